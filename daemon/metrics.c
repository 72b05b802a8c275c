/*
 * metrics.c: the "metrics" service, GET /metrics in the Prometheus text
 * format, one request per connection (the response ends with the
 * connection), read and answered by the same HTTP code as the web pages
 * (web/http.c). Meant for loopback or a monitoring network.
 */
#include "config.h"

#include <string.h>

#include "buf.h"
#include "http.h"
#include "log.h"
#include "master.h"
#include "session.h"
#include "stats.h"
#include "status.h"
#include "stream.h"

/*
 * The request did not arrive in time: per read (command_timeout) or in
 * all (session_timeout, which a client sending a header a second would
 * otherwise never meet). 408, logged and counted like the mail services.
 */
static void timed_out(struct stream *st, const struct http_request *req,
    const struct session_ctx *ctx)
{
	int whole = stream_expired(st);

	log_info("close reason=%s service=%s", whole ? "session-timeout" : "timeout",
	    conf_service_name(ctx->service));
	stats_closed(whole ? STAT_CLOSE_SESSION_TIMEOUT : STAT_CLOSE_TIMEOUT);
	http_respond_text(st, req, 408, "request timeout\n", 0, 1);
}

/* The answer to a whole request: the counters, or why not. */
static int metrics_answer(struct stream *st, const struct http_request *req,
    const struct session_ctx *ctx)
{
	struct buf body = BUF_INIT;
	struct status status;
	struct http_response resp = { .status = 200,
		.content_type = "text/plain; version=0.0.4; charset=utf-8", .body = &body };

	if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) {
		buf_appends(&body, "method not allowed\n");
		resp.status = 405;
		resp.content_type = "text/plain; charset=utf-8";
		resp.allow = "GET, HEAD";
	} else if (strcmp(req->path.s, "/metrics") != 0) {
		buf_appends(&body, "not found: try /metrics\n");
		resp.status = 404;
		resp.content_type = "text/plain; charset=utf-8";
	} else {
		status_collect(ctx->conf, 1, &status);
		status_prometheus(&status, &body);
	}
	http_respond(st, req, &resp, 0, 1);
	buf_free(&body);
	return resp.status;
}

int metrics_session_run(const struct session_ctx *ctx)
{
	struct stream st;
	struct http_request req;
	char q[LOG_QUOTE_MAX];
	int r, code;

	stream_init(&st, ctx->fd, (int)ctx->conf->limits.command_timeout);
	stream_set_deadline(&st, ctx->conf->limits.session_timeout);
	http_request_init(&req);
	r = http_request_read(&st, &req);
	if (r == HTTP_READ_OK) {
		code = metrics_answer(&st, &req, ctx);
	} else if (r == HTTP_READ_TIMEOUT) {
		timed_out(&st, &req, ctx);
		code = 408;
	} else if (r >= 400) {
		http_respond_text(&st, &req, r, "bad request\n", 0, 1);
		code = r;
	} else {
		code = 0;	/* closed, or silent before a request */
	}
	/* The method is the client's bytes: quoted like any of them. */
	if (code != 0)
		log_info("metrics method=%s status=%d",
		    req.method[0] ? log_quote(req.method, strlen(req.method), q, sizeof q) : "-",
		    code);
	(void)stream_flush(&st);
	http_request_free(&req);
	stream_free(&st);
	return 0;
}
