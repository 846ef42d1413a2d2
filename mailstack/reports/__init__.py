"""`mailstack dmarc report`: DMARC aggregate reports (RFC 7489, RFC 9990) and TLS reports
(RFC 8460), read from files, archives, messages or an IMAP mailbox, and summarised.

model      the reports as dataclasses
sources    files, archives, messages and IMAP mailboxes to (label, bytes) payloads, bounded
aggregate  DMARC aggregate XML to the model (defusedxml, schema checked)
tlsrpt     TLS-RPT JSON to the model
intake     payloads to reports: each parsed, refused with its reason, or counted once
summary    the figures and the failures explained
reverse    reverse names of the source addresses
render     the summary as text and as JSON
html       the summary as one self-contained HTML page
command    the command line
"""
