/*
 * The protocol's messages (docs/PROTOCOL.md section 5) as the bridge writes and reads them.
 *
 * A durable message is kept as a "body": its fields after `type` and `seq`, in the order of the
 * protocol's tables (the golden vectors' order). The seq is written when the frame is built
 * (proto_frame), so the queue can number (and, after a reconnect, renumber) without re-encoding.
 */
#ifndef MT5B_PROTO_H
#define MT5B_PROTO_H

#include <stdint.h>

#include "buf.h"

enum msg_type {
    MT_SYMBOL_SPEC,
    MT_TICK_BATCH,
    MT_BAR_BATCH,
    MT_DEAL,
    MT_ORDER_EVENT,
    MT_POSITIONS_SNAPSHOT,
    MT_ACCOUNT_SNAPSHOT,
    MT_EA_STATUS,
    MT_SIGNAL,
    MT_LOG,
    MT_COMMAND_ACK,
    MT_COMMAND_RESULT,
    MT_COUNT
};

const char *msg_type_name(int type);

/* Optional values: st = OPT_ABSENT (key left out), OPT_NIL (key with nil) or OPT_SET. */
#define OPT_ABSENT 0
#define OPT_NIL 1
#define OPT_SET 2
typedef struct {
    const uint8_t *p;
    int32_t n;
    int8_t st;
} ostr;
typedef struct {
    double v;
    int8_t st;
} odbl;
typedef struct {
    int64_t v;
    int8_t st;
} oint;

/* A body under construction: the bytes and how many key/value pairs they hold. */
typedef struct {
    buf_t b;
    uint32_t fields;
} body_t;

void body_str(body_t *m, const char *key, const uint8_t *s, int32_t n);
void body_int(body_t *m, const char *key, int64_t v);
void body_dbl(body_t *m, const char *key, double v);
void body_bool(body_t *m, const char *key, int v);
void body_ostr(body_t *m, const char *key, ostr v);
void body_odbl(body_t *m, const char *key, odbl v);
void body_oint(body_t *m, const char *key, oint v);
void body_obool(body_t *m, const char *key, oint v);

/* The frame: map header, type, seq, body. */
void proto_frame(buf_t *out, int type, int64_t seq, const uint8_t *body, size_t body_len, uint32_t body_fields);

/* ---- hello and goodbye (not durable: whole frames) ---- */
typedef struct {
    ostr token, instance_id;
    ostr bridge_name, bridge_version; /* both or none */
    oint terminal_build;
    int64_t login;
    ostr server, company, currency;
    oint leverage, margin_mode, trade_mode, server_utc_offset_s;
    ostr ea_name, ea_version;
    oint magic;
    ostr ea_symbol, timeframe, strategy;
    oint last_acked_seq;
} hello_t;
void proto_hello(buf_t *out, const hello_t *h);
void proto_goodbye(buf_t *out, ostr reason);

/* ---- durable bodies ---- */
typedef struct {
    ostr symbol;
    int64_t digits;
    double point;
    odbl contract_size, tick_size, tick_value;
    ostr currency_base, currency_profit, currency_margin;
    odbl volume_min, volume_max, volume_step;
    ostr description;
    oint chart_mode; /* SYMBOL_CHART_MODE: 0 bid, 1 last */
} symbol_spec_t;
void body_symbol_spec(body_t *m, const symbol_spec_t *s);

typedef struct {
    const uint8_t *symbol;
    int32_t symbol_len;
    uint32_t count;
    const int64_t *time_msc;
    const double *bid, *ask, *last;
    const int64_t *volume;
    const double *volume_real;
    const uint32_t *flags;
    int64_t first_index; /* written when > 0 */
    int64_t gap_dropped; /* gap written when > 0 */
    int64_t gap_from, gap_to;
} tick_batch_t;
void body_tick_batch(body_t *m, const tick_batch_t *t);

typedef struct {
    int64_t ticket, order, position_id, time_msc;
    int64_t deal_type, entry;
    ostr symbol;
    double volume, price, profit, commission, swap, fee;
    int64_t magic, reason;
    ostr comment, external_id;
    odbl sl, tp;
} deal_t;
void body_deal(body_t *m, const deal_t *d);

typedef struct {
    int64_t identifier, ticket;
    ostr symbol;
    int64_t position_type;
    double volume, price_open, price_current, sl, tp, profit, swap;
    int64_t magic, time_msc;
    ostr comment;
} position_t;
/* One position as a map (for positions_snapshot's array). */
void proto_position(buf_t *out, const position_t *p);
/* rows: `count` position maps already encoded back to back. */
void body_positions(body_t *m, int64_t time_msc, const uint8_t *rows, size_t rows_len, uint32_t count);

typedef struct {
    int64_t time_msc;
    double balance, equity, margin, free_margin, margin_level, profit;
    int64_t open_positions;
    double open_volume;
} account_snapshot_t;
void body_account_snapshot(body_t *m, const account_snapshot_t *a);

typedef struct {
    int64_t time_msc;
    ostr state;
    int terminal_trade_allowed, ea_trade_allowed;
    int64_t queue_depth, dropped_ticks;
    oint last_error;
    ostr message;
    oint connected; /* bool */
} ea_status_t;
void body_ea_status(body_t *m, const ea_status_t *s);

typedef struct {
    const uint8_t *symbol, *timeframe;
    int32_t symbol_len, timeframe_len;
    uint32_t count;
    const int64_t *time; /* ms */
    const double *open, *high, *low, *close;
    const int64_t *tick_volume, *real_volume;
    const int32_t *spread;
} bar_batch_t;
void body_bar_batch(body_t *m, const bar_batch_t *b);

typedef struct {
    int64_t ticket, time_msc;
    ostr symbol;
    int64_t order_type, state;
    double volume_initial, volume_current, price_open;
    odbl sl, tp;
    oint magic, position_id;
    ostr comment;
    oint event;
} order_event_t;
void body_order_event(body_t *m, const order_event_t *o);

typedef struct {
    int64_t time_msc;
    ostr symbol, signal_type;
    double price;
    odbl confidence;
    ostr strategy, timeframe, reason;
    const uint8_t *metadata; /* one MessagePack map, or NULL */
    size_t metadata_len;
    ostr signal_id;
} signal_t;
void body_signal(body_t *m, const signal_t *g);

void body_log(body_t *m, int64_t time_msc, ostr level, ostr message);
void body_command_ack(body_t *m, ostr command_id, ostr status, ostr reason);
/* result: one MessagePack map (or NULL/0 for none). */
void body_command_result(body_t *m, ostr command_id, int ok, const uint8_t *result, size_t result_len, ostr error);

/* ---- what the engine sends an EA ---- */
enum engine_msg { EM_UNKNOWN, EM_WELCOME, EM_ACK, EM_ERROR, EM_PING, EM_COMMAND };

typedef struct {
    int type;
    /* welcome */
    int64_t protocol, stream_id, resume_seq, server_time;
    int64_t max_frame_bytes, max_batch_ticks, max_inflight;
    const char *role;
    uint32_t role_len;
    /* ack, error */
    int64_t seq;
    int has_seq;
    const char *code, *message, *field;
    uint32_t code_len, message_len, field_len;
    /* command */
    const char *command_id, *command;
    uint32_t command_id_len, command_len;
    const uint8_t *payload; /* one MessagePack value (a map), or NULL */
    size_t payload_len;
    int64_t created_at, expires_at;
} engine_msg_t;

/* Decodes one frame from the engine. Returns 0 (type may be EM_UNKNOWN), -1 if undecodable. */
int proto_decode(const uint8_t *p, size_t n, engine_msg_t *m);

#endif
