/*
 * http_status.h: every status the HTTP code answers, with its reason
 * phrase (RFC 9110 section 15), in one table. http_status_reason() looks
 * a code up; a code missing here is a programming error (500 is sent).
 */
#ifndef ISPMAILD_HTTP_STATUS_H
#define ISPMAILD_HTTP_STATUS_H

#define HTTP_STATUS_TABLE(X) \
	X(200, "OK") \
	X(303, "See Other") \
	X(400, "Bad Request") \
	X(403, "Forbidden") \
	X(404, "Not Found") \
	X(405, "Method Not Allowed") \
	X(408, "Request Timeout") \
	X(411, "Length Required") \
	X(413, "Content Too Large") \
	X(415, "Unsupported Media Type") \
	X(431, "Request Header Fields Too Large") \
	X(500, "Internal Server Error") \
	X(503, "Service Unavailable") \
	X(505, "HTTP Version Not Supported")

#endif
