"""S/MIME for the described mailboxes (docs/smime.md).

One module per job:

    errors.py        SmimeError, the one error every step raises, with a sentence for the user
    smimea.py        the SMIMEA record of a certificate (RFC 8162): owner name and data
    profile.py       the CA's and the mailboxes' certificates (CA/B Forum S/MIME BR, strict)
    revocation.py    the CA's CRL
    mailbox.py       the checks a mailbox's certificate and key pass, ours or brought
    store.py         the CA store on the controller (keys 0600) and what is published
    pkcs12.py        .p12 files in two encodings, and reading a user's .p12
    instructions.py  how each client imports them
    actions.py       issue, renew, revoke, import, export, list, sign a CRL
    serve.py         what the CA's HTTP name serves
    command.py       `mailstack smime ...`
"""
