"""What goes to the accountant: the month's package (ZIP of XML, PDF, UPO and the CSV register) and its worker."""
