"""The pure core: money, the invoice model and its enumerations, the Polish calendar. No I/O here."""
