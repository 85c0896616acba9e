//! Syslog (RFC 3164 / RFC 5424) parser. Placeholder until the issue 6 work lands.
