# A real SMTP server for the campaign tests and benchmark: aiosmtpd (Debian
# python3-aiosmtpd) on 127.0.0.1, storing every accepted message in a
# Maildir. Arguments: PORT MAILDIR [option ...]
#   delay-ms=N         answer each DATA after N milliseconds
#   ADDRESS=CODE       refuse ADDRESS at RCPT with CODE (550, 451, ...)
#   ADDRESS=CODE*K     refuse it the first K times only, then accept
#   nostore            count the messages, keep none (benchmark)
#   auth=USER:PASSWORD require AUTH PLAIN/LOGIN with these (loopback, no TLS)
#   starttls=CERT:KEY  offer STARTTLS with this certificate, and require it
#   smtps=CERT:KEY     speak TLS from the first byte (implicit TLS)
# Prints "ready" when it listens. Each accepted Message-ID is appended to
# MAILDIR/../accepted.log, one a line, when the server answers 250.
import asyncio, mailbox, os, ssl, sys, time
from aiosmtpd.controller import Controller

port, maildir = int(sys.argv[1]), sys.argv[2]
delay, store, refuse, auth, tls = 0.0, True, {}, None, None
for arg in sys.argv[3:]:
    if arg.startswith(("starttls=", "smtps=")):
        mode, files = arg.split("=", 1)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(*files.split(":", 1))
        tls = (mode, context)
    elif arg.startswith("auth="):
        auth = arg.split("=", 1)[1].split(":", 1)
    elif arg == "nostore":
        store = False
    elif arg.startswith("delay-ms="):
        delay = int(arg.split("=", 1)[1]) / 1000.0
    else:
        address, code = arg.split("=", 1)
        times = None
        if "*" in code:
            code, times = code.split("*", 1)
            times = int(times)
        refuse[address] = [code, times]
box = mailbox.Maildir(maildir, create=True) if store else None
log = open(os.path.join(os.path.dirname(maildir.rstrip("/")), "accepted.log"), "a", buffering=1)


class Handler:
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        rule = refuse.get(address)
        if rule and (rule[1] is None or rule[1] > 0):
            if rule[1] is not None:
                rule[1] -= 1
            code = rule[0]
            words = "5.1.1 casella inesistente" if code.startswith("5") else "4.3.0 riprovare piu tardi"
            return code + " " + words
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if delay:
            await asyncio.sleep(delay)
        message_id = ""
        for line in envelope.original_content.split(b"\r\n"):
            if not line:
                break
            if line.lower().startswith(b"message-id:"):
                message_id = line.split(b":", 1)[1].strip().decode()
        if box is not None:
            box.add(envelope.original_content)
        log.write(message_id + "\n")
        return "250 Message accepted"


def authenticator(server, session, envelope, mechanism, auth_data):
    from aiosmtpd.smtp import AuthResult, LoginPassword
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login.decode() == auth[0]
        and auth_data.password.decode() == auth[1]
    )
    return AuthResult(success=ok)


extra = dict(authenticator=authenticator, auth_require_tls=False, auth_required=True) if auth else {}
if tls and tls[0] == "starttls":
    extra.update(tls_context=tls[1], require_starttls=True)
if tls and tls[0] == "smtps":
    extra.update(ssl_context=tls[1])
c = Controller(Handler(), hostname="127.0.0.1", port=port, **extra)
if tls and tls[0] == "smtps":
    # The controller's readiness probe wraps its client socket in the server's
    # context; probe as a client instead (the certificate is checked by the
    # client under test, not here).
    def probe():
        import socket
        client = ssl.create_default_context()
        client.check_hostname, client.verify_mode = False, ssl.CERT_NONE
        with socket.create_connection(("127.0.0.1", port)) as raw:
            with client.wrap_socket(raw) as conn:
                conn.recv(1024)
    c._trigger_server = probe
c.start()
print("ready", flush=True)
while True:
    time.sleep(3600)
