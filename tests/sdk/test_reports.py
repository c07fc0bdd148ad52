"""`flightdeck report` with a real SMTP server (aiosmtpd) and poppler: the weekly report is
mailed with its HTML and PDF attached; the PDF has the pages the report says (pdftoppm renders
each, none blank); a server that refuses is a `delivery_failed` exit (4) with the server's
answer, and the report is kept."""

import email
import email.policy
import glob
import json
import os
import socket
import subprocess
import tempfile

from aiosmtpd.controller import Controller

BIN = os.environ.get("FLIGHTDECK_BIN", "target/debug/flightdeck")


class Inbox:
    def __init__(self, refuse=None):
        self.messages = []
        self.refuse = refuse

    async def handle_DATA(self, server, session, envelope):
        if self.refuse:
            return self.refuse
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 OK"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def setup(tmp, port, attempts=3):
    config = os.path.join(tmp, "flightdeck.toml")
    with open(config, "w") as f:
        f.write(
            f"""[reports]
email_to = ["ops@example.com", "Finance <finance@example.com>"]
max_attempts = {attempts}
[reports.smtp]
host = "127.0.0.1"
port = {port}
security = "none"
from = "Flightdeck <flightdeck@example.com>"
timeout_secs = 10
"""
        )
    # A KPI series, so the report has a forecast chart.
    csv = os.path.join(tmp, "orders.csv")
    with open(csv, "w") as f:
        f.write("date,value\n")
        for i in range(120):
            f.write(f"2026-0{6 + i // 30 if i < 120 else 9}-{1 + i % 30:02d},{200 + i + (i % 7) * 10}\n")
    return config, csv


def flightdeck(tmp, config, *args):
    return subprocess.run(
        [BIN, "--secrets", "env", "--data-dir", os.path.join(tmp, "data"), "--config", config, *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_weekly_report_arrives_by_mail_and_its_pdf_has_its_pages():
    inbox = Inbox()
    port = free_port()
    smtp = Controller(inbox, hostname="127.0.0.1", port=port)
    smtp.start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            config, csv = setup(tmp, port)
            r = flightdeck(tmp, config, "series", "import", "orders", csv)
            assert r.returncode == 0, r.stderr
            out = os.path.join(tmp, "report.pdf")
            r = flightdeck(
                tmp, config, "report", "--period", "week", "--format", "html", "--out", out, "--deliver", "--json"
            )
            assert r.returncode == 0, r.stderr
            record = json.loads(r.stdout)
            assert record["email"]["state"] == "sent"
            assert record["email"]["attempts"] == 1
            pages = next(f["pages"] for f in record["files"] if f["format"] == "pdf")
            assert pages >= 1

            assert len(inbox.messages) == 1
            m = inbox.messages[0]
            assert m["subject"].startswith("Flightdeck weekly report")
            assert "ops@example.com" in m["to"] and "finance@example.com" in m["to"]
            attached = {p.get_filename(): p.get_content() for p in m.iter_attachments()}
            names = sorted(attached)
            assert [n.rsplit(".", 1)[1] for n in names] == ["html", "pdf"], names
            pdf = next(v for k, v in attached.items() if k.endswith(".pdf"))
            assert pdf.startswith(b"%PDF-")
            assert pdf == open(out, "rb").read()
            html = next(v for k, v in attached.items() if k.endswith(".html"))
            assert "default-src 'none'" in html and "orders" in html

            # poppler renders every page, and none is blank.
            subprocess.run(["pdftoppm", "-r", "40", "-png", out, os.path.join(tmp, "page")], check=True)
            rendered = sorted(glob.glob(os.path.join(tmp, "page-*.png")))
            assert len(rendered) == pages
            for png in rendered:
                assert os.path.getsize(png) > 3000, png
    finally:
        smtp.stop()


def test_a_server_that_refuses_is_a_delivery_failure_and_the_report_is_kept():
    inbox = Inbox(refuse="550 5.7.1 relaying denied for this sender")
    port = free_port()
    smtp = Controller(inbox, hostname="127.0.0.1", port=port)
    smtp.start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            config, _ = setup(tmp, port, attempts=1)
            out = os.path.join(tmp, "report.html")
            r = flightdeck(tmp, config, "report", "--period", "day", "--out", out, "--deliver")
            assert r.returncode == 4, (r.returncode, r.stdout, r.stderr)
            assert "delivery_failed" in r.stderr and "550" in r.stderr, r.stderr
            assert "is kept" in r.stderr
            assert os.path.exists(out)
            kept = glob.glob(os.path.join(tmp, "data", "reports", "flightdeck-day-*.html"))
            assert len(kept) == 1, kept
            assert inbox.messages == []
    finally:
        smtp.stop()
