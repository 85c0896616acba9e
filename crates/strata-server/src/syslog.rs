//! Syslog listeners. Placeholder until the issue 6 work lands.
