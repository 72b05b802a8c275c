/*
 * metrics.c: the "metrics" service, GET /metrics in the Prometheus text
 * format, one request per connection (HTTP/1.0 style: the response ends
 * with the connection). Meant for loopback or a monitoring network.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "log.h"
#include "master.h"
#include "session.h"
#include "stats.h"
#include "status.h"
#include "stream.h"

#define METRICS_LINE_MAX 2048
#define METRICS_HEADERS_MAX 64

static void respond(struct stream *st, const char *status, const char *type,
    const struct buf *body)
{
	stream_printf(st, "HTTP/1.0 %s\r\nContent-Type: %s\r\n"
	    "Content-Length: %zu\r\nConnection: close\r\n\r\n", status, type,
	    body->len);
	stream_write(st, body->s ? body->s : "", body->len);
}

/*
 * The request did not arrive in time: per line (command_timeout) or in
 * all (session_timeout, which a client sending a header a second would
 * otherwise never meet). 408, logged and counted like the mail services.
 */
static void timed_out(struct stream *st, const struct session_ctx *ctx)
{
	struct buf body = BUF_INIT;
	int whole = stream_expired(st);

	log_info("close reason=%s service=%s", whole ? "session-timeout" : "timeout",
	    conf_service_name(ctx->service));
	stats_closed(whole ? STAT_CLOSE_SESSION_TIMEOUT : STAT_CLOSE_TIMEOUT);
	buf_appends(&body, "request timeout\n");
	respond(st, "408 Request Timeout", "text/plain", &body);
	buf_free(&body);
}

int metrics_session_run(const struct session_ctx *ctx)
{
	char line[METRICS_LINE_MAX], method[16], path[256];
	struct stream st;
	struct buf body = BUF_INIT;
	struct status status;
	const char *code;
	size_t len;
	int i, r;

	stream_init(&st, ctx->fd, (int)ctx->conf->limits.command_timeout);
	stream_set_deadline(&st, ctx->conf->limits.session_timeout);
	r = stream_read_line(&st, line, sizeof line, &len, NULL);
	if (r != STREAM_OK || sscanf(line, "%15s %255s", method, path) != 2) {
		if (r == STREAM_TIMEOUT) {
			timed_out(&st, ctx);
			(void)stream_flush(&st);
		}
		stream_free(&st);
		return 0;
	}
	/* Skip the headers; we need none of them. */
	for (i = 0; i < METRICS_HEADERS_MAX; i++) {
		r = stream_read_line(&st, line, sizeof line, &len, NULL);
		if (r != STREAM_OK || len == 0)
			break;
	}
	if (r == STREAM_TIMEOUT) {
		timed_out(&st, ctx);
		code = "408";
	} else if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		buf_appends(&body, "method not allowed\n");
		respond(&st, "405 Method Not Allowed", "text/plain", &body);
		code = "405";
	} else if (strcmp(path, "/metrics") != 0) {
		buf_appends(&body, "not found: try /metrics\n");
		respond(&st, "404 Not Found", "text/plain", &body);
		code = "404";
	} else {
		status_collect(ctx->conf, 1, &status);
		status_prometheus(&status, &body);
		respond(&st, "200 OK", "text/plain; version=0.0.4; charset=utf-8", &body);
		code = "200";
	}
	{
		char q[LOG_QUOTE_MAX];

		/* The method is the client's bytes: quoted like any of them. */
		log_info("metrics method=%s status=%s",
		    log_quote(method, strlen(method), q, sizeof q), code);
	}
	(void)stream_flush(&st);
	buf_free(&body);
	stream_free(&st);
	return 0;
}
