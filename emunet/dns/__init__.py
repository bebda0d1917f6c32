"""Cluster DNS: the CoreDNS kubernetes schema for the cluster zone, served on kube-dns.

`names` parses query names, `records` builds answers from the `index` (fed by
informers), `server` speaks UDP and TCP with a cache of encoded answers,
`upstream` forwards other names to the host's resolvers, and `hostsfile`
optionally mirrors Service names into the host's /etc/hosts.
"""
