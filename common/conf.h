/*
 * conf.h: the configuration (ispmaild.conf(5)), read once from a libconfig
 * file into this plain, validated struct and passed down. Nothing deeper
 * looks up a libconfig setting. (The file is conf.h because config.h is
 * autoconf's.)
 */
#ifndef ISPMAILD_CONF_H
#define ISPMAILD_CONF_H

#include <stddef.h>

#include "net.h"

enum service {
	SERVICE_SMTP = 0,
	SERVICE_SUBMISSION,
	SERVICE_SMTPS,
	SERVICE_POP3,
	SERVICE_POP3S,
	SERVICE_METRICS,
	SERVICE_WEB,		/* HTTPS: self-service and administration */
	SERVICE_COUNT
};

struct listen_conf {
	enum service service;
	char *address;		/* "0.0.0.0", "::1", ... (canonical text) */
	int port;
	char *min_version;	/* NULL: the tls block's */
	char *ciphers;		/* NULL: the tls block's */
};

struct tls_conf {
	int enabled;		/* the tls block is present */
	char *certificate;
	char *private_key;
	char *min_version;	/* default "TLSv1.2" */
	char *ciphers;		/* NULL: OpenSSL's default */
};

struct relay_conf {
	struct netlist customer_networks;
	struct netlist trusted_networks;	/* default 127.0.0.1/32, ::1/128 */
	long authorization_ttl;			/* default 1800 */
	unsigned ipv6_prefix;			/* default 64 */
	struct netlist never_authorize;
	int plaintext_auth;			/* default 0 */
	char *smarthost;			/* "" when unset */
	int sender_login_match;			/* default 0: MAIL as own address only */
	int local_sender_from_outside;		/* default 0: 550 to outside local senders */
	int backend;				/* enum relay_backend: where shared state lives */
};

/* Where what the nodes share is kept (SPEC 14): local files or Redis. */
enum relay_backend {
	RELAY_BACKEND_BDB = 0,
	RELAY_BACKEND_REDIS
};

struct limits_conf {
	long max_connections;	/* 200 */
	long max_per_ip;	/* 10 */
	long message_size;	/* 26214400 */
	long max_recipients;	/* 100 */
	long command_timeout;	/* 600 */
	long data_timeout;	/* 600 */
	long auth_failures;	/* 3 */
	long max_use;		/* 100: sessions one process serves, then exits */
	long max_idle;		/* 60: seconds an idle session process waits */
	long junk_command_limit;	/* 100: NOOP and kin per session, then close */
	long session_timeout;	/* 3600: seconds a whole session may last; 0 off */
	long error_limit;	/* 10: client errors per session, then 421 and close */
	long outbound_per_user_hour;	/* 500: relayed RCPTs per user; 0 off */
	long outbound_per_ip_hour;	/* 1000: the same per client address; 0 off */
	long outbound_window;	/* 3600: seconds the two count over */
};

struct queue_conf {
	long retry_min;		/* 300 */
	long retry_max;		/* 3600 */
	long max_age;		/* 432000 */
	long delivery_timeout;	/* 1200: seconds for one attempt at one destination */
};

/* DKIM signing (docs: ispmaild.conf(5), DKIM). */
struct dkim_conf {
	char *keys_dir;		/* <keys_dir>/<domain>/<selector>.key */
	char *selector;		/* the one keygen uses when none is given */
};

/* DNS blocklists (docs: ispmaild.conf(5), DNSBL). */
struct dnsbl_conf {
	char **zones;		/* lower case, no trailing dot; none: no lookups */
	size_t nzones;
};

/* Greylisting (docs: ispmaild.conf(5), greylisting). */
struct greylist_conf {
	int enabled;		/* 0 */
	long delay;		/* 300: seconds before a retry is accepted */
	long expire;		/* 3024000: seconds an entry lives unseen */
	long auto_allow;	/* 5: passes after which a client is not greylisted */
};

/* One filter of milters (SPEC 11, ispmaild.conf(5) "Filters"). */
enum milter_on_error_conf {
	CONF_MILTER_TEMPFAIL = 0,	/* a dead or late filter: 4xx */
	CONF_MILTER_ACCEPT,		/* a dead or late filter: left out */
};

struct milter_entry_conf {
	char *name;		/* for logs */
	char *address;		/* "host:port", "[v6]:port" or "unix:/path" */
	int timeout;		/* 30: seconds to connect and per reply */
	int on_error;		/* enum milter_on_error_conf */
	char **services;	/* default smtp, submission, smtps */
	size_t nservices;
};

/* Sender rewriting for forwarded mail (docs: ispmaild.conf(5), SRS). */
struct srs_conf {
	char *secret_file;	/* the HMAC key, made at first start (common/srs.h) */
	char *domain;		/* "" = hostname: SRS0=...@<domain> */
};

/* The web service (ispmaild.conf(5) "Web"). */
struct web_conf {
	char **admins;		/* addresses, lower case: administrators */
	size_t nadmins;
	long session_ttl;	/* 1800: seconds a web session lives idle */
};

/* Redis, when relay.backend is "redis" (ispmaild.conf(5) "More than one machine"). */
struct redis_conf {
	char *address;		/* "127.0.0.1:6379", "[::1]:6379" or a unix socket path */
	char *password_file;	/* "" when none */
	char *prefix;		/* "ispmaild:": every key starts with it */
	long timeout_ms;	/* 500: connect and each command */
};

struct conf {
	char *path;		/* the file it came from, absolute */
	char *hostname;		/* default: gethostname() */
	char *state_dir;	/* default LOCALSTATEDIR "/lib/ispmaild" */
	char *maildir_root;	/* default "/var/mail/ispmaild" */
	char *users_file;	/* default SYSCONFDIR "/ispmaild/users" */
	char *aliases_file;	/* NULL when unset */
	char **domains;		/* lower case, no trailing dot */
	size_t ndomains;
	char *user;		/* default "vmail" */
	char *group;		/* default "vmail" */
	struct listen_conf *listen;
	size_t nlisten;
	struct tls_conf tls;
	struct relay_conf relay;
	char *dns_nameserver;	/* "" when unset */
	struct limits_conf limits;
	struct queue_conf queue;
	struct dkim_conf dkim;
	struct dnsbl_conf dnsbl;
	struct greylist_conf greylist;
	char *postmaster;	/* "" when unset: the first user of the first domain */
	struct milter_entry_conf *milters;	/* in order; none by default */
	size_t nmilters;
	struct srs_conf srs;
	struct web_conf web;
	struct redis_conf redis;
	int log_level;		/* syslog priority: LOG_INFO, or "log_level" */
};

/*
 * Read and validate path into *out. On error returns -1 and writes one line
 * to err naming the file, line and key ("ispmaild.conf:12: limits.max_per_ip:
 * expected an integer"); *out is then left zeroed. out->path is the file's
 * absolute name (for SIGHUP after chdir), and every relative path in the
 * file is resolved against the file's directory. Free with conf_free.
 */
int conf_load(const char *path, struct conf *out, char *err, size_t errlen);
/* Frees everything and leaves *c zeroed; a zeroed struct is fine to free. */
void conf_free(struct conf *c);

struct buf;
/*
 * Append one line "key = value" for each setting of c that differs from its
 * default (ispmaild -n, as postconf -n): the top-level keys, then each
 * block's ("limits.max_per_ip = 20"), in the order of ispmaild.conf(5)'s
 * tables; values as libconfig writes them (strings quoted, lists in [ ],
 * listen in ( { ... } )). A default that follows another key (domains: the
 * hostname; listen: the tls block) is judged against c's own.
 */
void conf_print_changed(const struct conf *c, struct buf *out);
/*
 * Append every key with its default (ispmaild -d, as postconf -d), the keys
 * of a listen entry as "listen[].port"; "key =" when there is none (unset,
 * or required).
 */
void conf_print_defaults(struct buf *out);

const char *conf_service_name(enum service s);
/* "debug", "info", "warning", "error" -> a syslog priority; -1 otherwise. */
int conf_log_level_parse(const char *name);
/* -1 when the name is not a service. */
int conf_service_parse(const char *name);
/* Does milter m filter the sessions of service svc? */
int conf_milter_serves(const struct milter_entry_conf *m, enum service svc);

/*
 * Split a relay.smarthost value, "[host]:port", "host:port", "[host]" or
 * "host", into host (brackets removed) and port (25 when absent). *mx is
 * 0 for the bracketed form (connect to exactly that host, as Postfix does)
 * and for an IP address, 1 for a name to look up MX records for. -1 on bad
 * syntax or a short buffer.
 */
int conf_smarthost_parse(const char *text, char *host, size_t hostlen, int *port, int *mx);
/*
 * Split a dns.nameserver value, "addr", "addr:port" or "[addr]:port" with
 * a literal IPv4/IPv6 address, into the canonical address text and port
 * (53 when absent). -1 on bad syntax or a short buffer.
 */
int conf_nameserver_parse(const char *text, char *addr, size_t addrlen, int *port);

/*
 * Is domain one of c->domains? Any case, ONE trailing dot ignored, a
 * subdomain is not local; domain holds len bytes and need not be
 * NUL-terminated.
 */
int conf_is_local_domain(const struct conf *c, const char *domain, size_t len);
/* The same test against any list of domains (n entries, NULLs skipped). */
int domain_in_list(char *const *domains, size_t n, const char *domain, size_t len);

#endif
