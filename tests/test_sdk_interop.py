"""Proof by a third party: the PyPI SDK ksef-client (its [xml] extra signs XAdES with python-xmlsec) logs in
to the simulator with a self-signed company seal, is refused enrollment in a token session, enrolls a KSeF
Authentication certificate in its XAdES session, logs in with that certificate and sends an FA(3) invoice.

The SDK polls with time.sleep, so the simulator runs with no processing delay rather than a fake clock."""
from __future__ import annotations

import base64

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.ksef_support import SELLER_NIP, invoice_xml, new_key, running_simulator, self_signed

sdk = pytest.importorskip("ksef_client", reason="the PyPI SDK ksef-client is a test dependency")
pytest.importorskip("xmlsec", reason="ksef-client[xml] brings python-xmlsec")

from ksef_client import KsefClient, KsefClientOptions  # noqa: E402
from ksef_client.exceptions import KsefHttpError  # noqa: E402
from ksef_client.openapi_models import (  # noqa: E402
    EnrollCertificateRequest,
    FormCode,
    KsefCertificateType,
    RetrieveCertificatesRequest,
)
from ksef_client.services.csr import generate_csr_ec  # noqa: E402
from ksef_client.services.workflows import AuthCoordinator, OnlineSessionWorkflow  # noqa: E402
from ksef_client.services.xades import XadesKeyPair  # noqa: E402


def pem(certificate: x509.Certificate, key) -> XadesKeyPair:
    return XadesKeyPair(certificate_pem=certificate.public_bytes(serialization.Encoding.PEM).decode(),
                        private_key_pem=key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                          serialization.NoEncryption()).decode())


def xades_login(client: KsefClient, pair: XadesKeyPair) -> str:
    result = AuthCoordinator(client.auth).authenticate_with_xades_key_pair(
        key_pair=pair, context_identifier_type="Nip", context_identifier_value=SELLER_NIP,
        subject_identifier_type="certificateSubject", poll_interval_seconds=0, max_attempts=3)
    return result.access_token


def test_sdk_logs_in_by_xades_enrolls_a_ksef_certificate_and_sends_an_invoice():
    with running_simulator(processing_ms=0, xades_delay_ms=0) as sim:
        client = KsefClient(KsefClientOptions(base_url=sim.base_url, base_qr_url=sim.base_url,
                                              base_lighthouse_url=f"{sim.base_url}/latarnia"))
        seal_key = new_key("EC")
        seal = self_signed(seal_key)  # organizationIdentifier VATPL-<NIP>, as a company seal carries
        access = xades_login(client, pem(seal, seal_key))

        token_access = AuthCoordinator(client.auth).authenticate_with_ksef_token(
            token=sim.create_token(), public_certificate=_token_key(client), context_identifier_type="Nip",
            context_identifier_value=SELLER_NIP, poll_interval_seconds=0, max_attempts=3).access_token
        with pytest.raises(KsefHttpError) as refused:
            client.certificates.get_enrollment_data(token_access)
        assert refused.value.status_code == 400 and "25001" in str(refused.value.response_body)

        data = client.certificates.get_enrollment_data(access)
        assert data.organization_identifier == f"VATPL-{SELLER_NIP}"
        csr = generate_csr_ec(data.to_dict())
        sent = client.certificates.send_enrollment(EnrollCertificateRequest(
            certificate_name="Certyfikat SDK", certificate_type=KsefCertificateType.AUTHENTICATION,
            csr=csr.csr_base64), access_token=access)
        status = client.certificates.get_enrollment_status(sent.reference_number, access_token=access)
        assert status.status.code == 200, status
        retrieved = client.certificates.retrieve_certificate(RetrieveCertificatesRequest(
            certificate_serial_numbers=[status.certificate_serial_number]), access_token=access)
        ksef_certificate = x509.load_der_x509_certificate(base64.b64decode(retrieved.certificates[0].certificate))
        ksef_key = serialization.load_der_private_key(base64.b64decode(csr.private_key_base64), None)

        ksef_access = xades_login(client, pem(ksef_certificate, ksef_key))
        session = OnlineSessionWorkflow(client.sessions).open_session(
            form_code=FormCode(system_code="FA (3)", schema_version="1-0E", value="FA"),
            public_certificate=_symmetric_key(client), access_token=ksef_access)
        sent_invoice = session.send_invoice(invoice_xml("SDK/1/2026"))
        invoice = client.sessions.get_session_invoice_status(session.reference_number, sent_invoice.reference_number,
                                                             access_token=ksef_access)
        assert invoice.status.code == 200, invoice
        assert invoice.ksef_number
        client.close()


def _token_key(client: KsefClient) -> str:
    return _certificate_of(client, "KsefTokenEncryption")


def _symmetric_key(client: KsefClient) -> str:
    return _certificate_of(client, "SymmetricKeyEncryption")


def _certificate_of(client: KsefClient, usage: str) -> str:
    for item in client.security.get_public_key_certificates():
        if usage in [getattr(u, "value", u) for u in item.usage]:
            return item.certificate
    raise AssertionError(f"no {usage} certificate")
