"""`mailstack dmarc report`: DMARC aggregate reports (RFC 7489, RFC 9990) and TLS reports
(RFC 8460), read from files, archives, messages or an IMAP mailbox, and summarised.

model      the reports as dataclasses
sources    (label, bytes) payloads, and the gzip and zip archives that hold them, bounded
files      files and directories to payloads: regular files only
messages   a message, or every message of an mbox, to its attachments, bounded
imap       an IMAP mailbox's messages, read-only
aggregate  DMARC aggregate XML to the model (defusedxml, schema checked)
tlsrpt     TLS-RPT JSON to the model
intake     payloads to reports: each parsed, refused with its reason, or counted once
summary    the figures and the failures explained
reverse    reverse names of the source addresses
render     the summary as text and as JSON
html       the summary as one self-contained HTML page
command    the command line
"""
