"""`mailstack check`: audit a mail domain's DNS, DNSSEC, DANE, TLS and policies from outside."""
