/*
 * RFC 6455 for a client: the opening handshake (Sec-WebSocket-Key/Accept with SHA-1 and base64),
 * frame writing with masking, and an incremental reader that reassembles fragmented messages and
 * hands control frames (ping, pong, close) out as they come, also between fragments.
 */
#ifndef MT5B_WS_H
#define MT5B_WS_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define WS_OP_CONT 0x0
#define WS_OP_TEXT 0x1
#define WS_OP_BINARY 0x2
#define WS_OP_CLOSE 0x8
#define WS_OP_PING 0x9
#define WS_OP_PONG 0xA

void ws_sha1(const void *data, size_t n, uint8_t out[20]);
/* base64 of n bytes into out (4 * ceil(n / 3) characters and a NUL). */
void ws_base64(const uint8_t *p, size_t n, char *out);
/* The Sec-WebSocket-Accept value for a key: base64(SHA-1(key + GUID)), 28 characters + NUL. */
void ws_accept_for(const char *key, char out[29]);

/* The upgrade request for ws://host:port/path with the given 24-character key. */
void ws_build_request(buf_t *out, const char *host, int port, const char *path, const char *key);

/*
 * Reads the server's handshake response from in[0..n). Returns 0 when more bytes are needed, the
 * number of bytes the response took (> 0) when it is a valid 101 with the right accept value, or
 * -1 with a reason in err.
 */
long ws_parse_response(const uint8_t *in, size_t n, const char *key, char *err, size_t errcap);

/*
 * Appends one frame. mask: 4 bytes (client frames must be masked) or NULL (server frames).
 */
void ws_write_frame(buf_t *out, int opcode, int fin, const uint8_t *payload, size_t n, const uint8_t *mask);
/* A close frame with a status code (0: none) and reason. */
void ws_write_close(buf_t *out, int code, const char *reason, const uint8_t *mask);

/* Incremental reader. */
enum ws_event {
    WS_NEED_MORE = 0,
    WS_MESSAGE, /* a whole data message: opcode, data, len */
    WS_PING,    /* data, len: the payload to echo in the pong */
    WS_PONG,
    WS_CLOSE,   /* close_code (1005 when none), data/len: the reason */
    WS_ERROR    /* close_code: 1002 protocol error, 1009 too big; err text */
};

typedef struct {
    buf_t msg;           /* fragments being reassembled */
    int in_message;      /* a fragmented message is open */
    int msg_opcode;
    size_t max_message;  /* bytes; larger messages are WS_ERROR 1009 */
    int expect_masked;   /* 1 on a server (frames from clients are masked), 0 on a client */
    uint8_t ctl[125];    /* unmasked control payload */
    buf_t scratch;       /* unmasked single-frame data message (server side) */
} ws_reader;

typedef struct {
    enum ws_event type;
    int opcode;
    const uint8_t *data;
    size_t len;
    int close_code;
    char err[96];
} ws_frame_event;

void ws_reader_init(ws_reader *r, size_t max_message, int expect_masked);
void ws_reader_reset(ws_reader *r);
void ws_reader_free(ws_reader *r);
/*
 * Looks at in[0..n) and reports the next event; *used is how many bytes it consumed. Event data
 * points into `in` or into the reader, valid until the next call.
 */
void ws_read(ws_reader *r, const uint8_t *in, size_t n, size_t *used, ws_frame_event *ev);

#endif
