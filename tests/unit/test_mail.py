"""mospay.mail against a real SMTP server on loopback (tests/smtp_sink.py)."""

import pytest

from mospay.mail import Mailer, MailError, parse_url
from tests.smtp_sink import SmtpSink


def test_a_message_reaches_the_relay_with_its_subject_recipients_and_body():
    with SmtpSink() as sink:
        Mailer(sink.url).send(["ops@example.com", "cfo@example.com"], "Alert:\r\nBcc: x@evil.test", "body text\n.\nend")
        message = sink.wait_for()
    assert message["Subject"] == "Alert: Bcc: x@evil.test"  # one header: no injection through the subject
    assert message["Bcc"] is None
    assert message["X-Sink-Recipients"] == "ops@example.com, cfo@example.com"
    assert message["From"] == "mospay@example.test"
    assert message.get_content().replace("\r\n", "\n") == "body text\n.\nend\n"  # dot-stuffing undone


def test_a_refusing_relay_is_a_mail_error_not_a_crash():
    with SmtpSink(fail_with="451 try again later") as sink:
        with pytest.raises(MailError, match="451"):
            Mailer(sink.url).send("ops@example.com", "s", "b")


@pytest.mark.parametrize("to", ["", "a@b.c, d@e.f", "a@b.c\r\nRCPT TO:<x@y.z>", "no-at-sign"])
def test_a_recipient_must_be_one_plain_address(to):
    with SmtpSink() as sink:
        with pytest.raises(MailError):
            Mailer(sink.url).send(to, "s", "b")
        assert sink.messages == []


def test_a_remote_relay_without_starttls_is_refused(monkeypatch):
    from mospay import mail
    with SmtpSink() as sink:  # the sink offers no STARTTLS: fine on loopback, refused anywhere else
        monkeypatch.setattr(mail.Relay, "loopback", property(lambda relay: False))
        with pytest.raises(MailError, match="STARTTLS"):
            Mailer(sink.url).send("ops@example.com", "s", "b")
        assert sink.messages == []
    assert parse_url("smtp://mail.example.com").port == 587 and not parse_url("smtp://mail.example.com").loopback


@pytest.mark.parametrize("url", ["http://mail.example.com", "smtp://", "smtp://h:99999", "smtp://h?from=a@b,c@d"])
def test_an_invalid_url_says_why(url):
    with pytest.raises(ValueError):
        parse_url(url)


def test_without_a_url_mail_is_off():
    mailer = Mailer(None)
    assert not mailer.enabled
    with pytest.raises(MailError, match="not configured"):
        mailer.send("a@b.c", "s", "b")
