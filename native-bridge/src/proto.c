#include "proto.h"

#include <string.h>

#include "mp.h"

static const char *const type_names[MT_COUNT] = {
    "symbol_spec", "tick_batch", "bar_batch", "deal", "order_event", "positions_snapshot",
    "account_snapshot", "ea_status", "signal", "log", "command_ack", "command_result",
};

const char *msg_type_name(int type) { return type >= 0 && type < MT_COUNT ? type_names[type] : "?"; }

static void key(body_t *m, const char *k) {
    mp_cstr(&m->b, k);
    m->fields++;
}

void body_str(body_t *m, const char *k, const uint8_t *s, int32_t n) {
    key(m, k);
    mp_str(&m->b, s, n > 0 ? (size_t)n : 0);
}
void body_int(body_t *m, const char *k, int64_t v) {
    key(m, k);
    mp_int(&m->b, v);
}
void body_dbl(body_t *m, const char *k, double v) {
    key(m, k);
    mp_double(&m->b, v);
}
void body_bool(body_t *m, const char *k, int v) {
    key(m, k);
    mp_bool(&m->b, v);
}
void body_ostr(body_t *m, const char *k, ostr v) {
    if (v.st == OPT_ABSENT) return;
    if (v.st == OPT_NIL) {
        key(m, k);
        mp_nil(&m->b);
    } else {
        body_str(m, k, v.p, v.n);
    }
}
void body_odbl(body_t *m, const char *k, odbl v) {
    if (v.st == OPT_ABSENT) return;
    if (v.st == OPT_NIL) {
        key(m, k);
        mp_nil(&m->b);
    } else {
        body_dbl(m, k, v.v);
    }
}
void body_oint(body_t *m, const char *k, oint v) {
    if (v.st == OPT_ABSENT) return;
    if (v.st == OPT_NIL) {
        key(m, k);
        mp_nil(&m->b);
    } else {
        body_int(m, k, v.v);
    }
}
void body_obool(body_t *m, const char *k, oint v) {
    if (v.st == OPT_ABSENT) return;
    if (v.st == OPT_NIL) {
        key(m, k);
        mp_nil(&m->b);
    } else {
        body_bool(m, k, v.v != 0);
    }
}

void proto_frame(buf_t *out, int type, int64_t seq, const uint8_t *body, size_t body_len, uint32_t body_fields) {
    mp_map(out, body_fields + 2);
    mp_cstr(out, "type");
    mp_cstr(out, msg_type_name(type));
    mp_cstr(out, "seq");
    mp_int(out, seq);
    buf_put(out, body, body_len);
}

void proto_hello(buf_t *out, const hello_t *h) {
    body_t m = {{0}, 0};
    body_str(&m, "type", (const uint8_t *)"hello", 5);
    body_int(&m, "protocol", 1);
    body_str(&m, "role", (const uint8_t *)"ea", 2);
    body_ostr(&m, "token", h->token);
    body_ostr(&m, "instance_id", h->instance_id);
    if (h->bridge_name.st == OPT_SET) {
        key(&m, "bridge");
        mp_map(&m.b, 2);
        mp_cstr(&m.b, "name");
        mp_str(&m.b, h->bridge_name.p, (size_t)h->bridge_name.n);
        mp_cstr(&m.b, "version");
        mp_str(&m.b, h->bridge_version.p, (size_t)h->bridge_version.n);
    }
    body_oint(&m, "terminal_build", h->terminal_build);
    {
        body_t a = {{0}, 0};
        body_int(&a, "login", h->login);
        body_ostr(&a, "server", h->server);
        body_ostr(&a, "company", h->company);
        body_ostr(&a, "currency", h->currency);
        body_oint(&a, "leverage", h->leverage);
        body_oint(&a, "margin_mode", h->margin_mode);
        body_oint(&a, "trade_mode", h->trade_mode);
        body_oint(&a, "server_utc_offset_s", h->server_utc_offset_s);
        key(&m, "account");
        mp_map(&m.b, a.fields);
        buf_put(&m.b, a.b.p, a.b.len);
        if (a.b.oom) m.b.oom = 1;
        buf_free(&a.b);
    }
    {
        body_t e = {{0}, 0};
        body_ostr(&e, "name", h->ea_name);
        body_ostr(&e, "version", h->ea_version);
        body_oint(&e, "magic", h->magic);
        body_ostr(&e, "symbol", h->ea_symbol);
        body_ostr(&e, "timeframe", h->timeframe);
        body_ostr(&e, "strategy", h->strategy);
        key(&m, "ea");
        mp_map(&m.b, e.fields);
        buf_put(&m.b, e.b.p, e.b.len);
        if (e.b.oom) m.b.oom = 1;
        buf_free(&e.b);
    }
    body_oint(&m, "last_acked_seq", h->last_acked_seq);
    mp_map(out, m.fields);
    buf_put(out, m.b.p, m.b.len);
    if (m.b.oom) out->oom = 1;
    buf_free(&m.b);
}

void proto_goodbye(buf_t *out, ostr reason) {
    body_t m = {{0}, 0};
    body_str(&m, "type", (const uint8_t *)"goodbye", 7);
    body_ostr(&m, "reason", reason);
    mp_map(out, m.fields);
    buf_put(out, m.b.p, m.b.len);
    if (m.b.oom) out->oom = 1;
    buf_free(&m.b);
}

void body_symbol_spec(body_t *m, const symbol_spec_t *s) {
    body_ostr(m, "symbol", s->symbol);
    body_int(m, "digits", s->digits);
    body_dbl(m, "point", s->point);
    body_odbl(m, "contract_size", s->contract_size);
    body_odbl(m, "tick_size", s->tick_size);
    body_odbl(m, "tick_value", s->tick_value);
    body_ostr(m, "currency_base", s->currency_base);
    body_ostr(m, "currency_profit", s->currency_profit);
    body_ostr(m, "currency_margin", s->currency_margin);
    body_odbl(m, "volume_min", s->volume_min);
    body_odbl(m, "volume_max", s->volume_max);
    body_odbl(m, "volume_step", s->volume_step);
    body_ostr(m, "description", s->description);
    body_oint(m, "chart_mode", s->chart_mode);
}

void body_tick_batch(body_t *m, const tick_batch_t *t) {
    uint32_t n = t->count;
    body_str(m, "symbol", t->symbol, t->symbol_len);
    key(m, "time_msc");
    mp_array(&m->b, n);
    for (uint32_t i = 0; i < n; i++) mp_int(&m->b, t->time_msc[i]);
    key(m, "bid");
    mp_array(&m->b, n);
    for (uint32_t i = 0; i < n; i++) mp_double(&m->b, t->bid[i]);
    key(m, "ask");
    mp_array(&m->b, n);
    for (uint32_t i = 0; i < n; i++) mp_double(&m->b, t->ask[i]);
    key(m, "last");
    mp_array(&m->b, n);
    for (uint32_t i = 0; i < n; i++) mp_double(&m->b, t->last[i]);
    key(m, "volume");
    mp_array(&m->b, n);
    for (uint32_t i = 0; i < n; i++) mp_int(&m->b, t->volume[i]);
    key(m, "volume_real");
    mp_array(&m->b, n);
    for (uint32_t i = 0; i < n; i++) mp_double(&m->b, t->volume_real[i]);
    key(m, "flags");
    mp_array(&m->b, n);
    for (uint32_t i = 0; i < n; i++) mp_int(&m->b, t->flags[i]);
    if (t->first_index > 0) body_int(m, "first_index", t->first_index);
    if (t->gap_dropped > 0) {
        key(m, "gap");
        mp_map(&m->b, 3);
        mp_cstr(&m->b, "dropped");
        mp_int(&m->b, t->gap_dropped);
        mp_cstr(&m->b, "from_msc");
        mp_int(&m->b, t->gap_from);
        mp_cstr(&m->b, "to_msc");
        mp_int(&m->b, t->gap_to);
    }
}

void body_deal(body_t *m, const deal_t *d) {
    body_int(m, "ticket", d->ticket);
    body_int(m, "order", d->order);
    body_int(m, "position_id", d->position_id);
    body_int(m, "time_msc", d->time_msc);
    body_int(m, "deal_type", d->deal_type);
    body_int(m, "entry", d->entry);
    body_ostr(m, "symbol", d->symbol);
    body_dbl(m, "volume", d->volume);
    body_dbl(m, "price", d->price);
    body_dbl(m, "profit", d->profit);
    body_dbl(m, "commission", d->commission);
    body_dbl(m, "swap", d->swap);
    body_dbl(m, "fee", d->fee);
    body_int(m, "magic", d->magic);
    body_int(m, "reason", d->reason);
    body_ostr(m, "comment", d->comment);
    body_ostr(m, "external_id", d->external_id);
    body_odbl(m, "sl", d->sl);
    body_odbl(m, "tp", d->tp);
}

/* A column of bars: the fields of MqlRates, in the protocol's order. */
static void col_int(body_t *m, const char *k, const int64_t *v, uint32_t n) {
    key(m, k);
    mp_array(&m->b, n);
    for (uint32_t i = 0; i < n; i++) mp_int(&m->b, v[i]);
}

static void col_dbl(body_t *m, const char *k, const double *v, uint32_t n) {
    key(m, k);
    mp_array(&m->b, n);
    for (uint32_t i = 0; i < n; i++) mp_double(&m->b, v[i]);
}

void body_bar_batch(body_t *m, const bar_batch_t *b) {
    uint32_t n = b->count;
    body_str(m, "symbol", b->symbol, b->symbol_len);
    body_str(m, "timeframe", b->timeframe, b->timeframe_len);
    col_int(m, "time", b->time, n);
    col_dbl(m, "open", b->open, n);
    col_dbl(m, "high", b->high, n);
    col_dbl(m, "low", b->low, n);
    col_dbl(m, "close", b->close, n);
    col_int(m, "tick_volume", b->tick_volume, n);
    col_int(m, "real_volume", b->real_volume, n);
    key(m, "spread");
    mp_array(&m->b, n);
    for (uint32_t i = 0; i < n; i++) mp_int(&m->b, b->spread[i]);
}

void body_order_event(body_t *m, const order_event_t *o) {
    body_int(m, "ticket", o->ticket);
    body_int(m, "time_msc", o->time_msc);
    body_ostr(m, "symbol", o->symbol);
    body_int(m, "order_type", o->order_type);
    body_int(m, "state", o->state);
    body_dbl(m, "volume_initial", o->volume_initial);
    body_dbl(m, "volume_current", o->volume_current);
    body_dbl(m, "price_open", o->price_open);
    body_odbl(m, "sl", o->sl);
    body_odbl(m, "tp", o->tp);
    body_oint(m, "magic", o->magic);
    body_oint(m, "position_id", o->position_id);
    body_ostr(m, "comment", o->comment);
    body_oint(m, "event", o->event);
}

void body_signal(body_t *m, const signal_t *g) {
    body_int(m, "time_msc", g->time_msc);
    body_ostr(m, "symbol", g->symbol);
    body_ostr(m, "signal_type", g->signal_type);
    body_dbl(m, "price", g->price);
    body_odbl(m, "confidence", g->confidence);
    body_ostr(m, "strategy", g->strategy);
    body_ostr(m, "timeframe", g->timeframe);
    body_ostr(m, "reason", g->reason);
    if (g->metadata && g->metadata_len) {
        key(m, "metadata");
        buf_put(&m->b, g->metadata, g->metadata_len);
    }
    body_ostr(m, "signal_id", g->signal_id);
}

void proto_position(buf_t *out, const position_t *p) {
    body_t m = {{0}, 0};
    body_int(&m, "identifier", p->identifier);
    body_int(&m, "ticket", p->ticket);
    body_ostr(&m, "symbol", p->symbol);
    body_int(&m, "position_type", p->position_type);
    body_dbl(&m, "volume", p->volume);
    body_dbl(&m, "price_open", p->price_open);
    body_dbl(&m, "price_current", p->price_current);
    body_dbl(&m, "sl", p->sl);
    body_dbl(&m, "tp", p->tp);
    body_dbl(&m, "profit", p->profit);
    body_dbl(&m, "swap", p->swap);
    body_int(&m, "magic", p->magic);
    body_int(&m, "time_msc", p->time_msc);
    body_ostr(&m, "comment", p->comment);
    mp_map(out, m.fields);
    buf_put(out, m.b.p, m.b.len);
    if (m.b.oom) out->oom = 1;
    buf_free(&m.b);
}

void body_positions(body_t *m, int64_t time_msc, const uint8_t *rows, size_t rows_len, uint32_t count) {
    body_int(m, "time_msc", time_msc);
    key(m, "positions");
    mp_array(&m->b, count);
    buf_put(&m->b, rows, rows_len);
}

void body_account_snapshot(body_t *m, const account_snapshot_t *a) {
    body_int(m, "time_msc", a->time_msc);
    body_dbl(m, "balance", a->balance);
    body_dbl(m, "equity", a->equity);
    body_dbl(m, "margin", a->margin);
    body_dbl(m, "free_margin", a->free_margin);
    body_dbl(m, "margin_level", a->margin_level);
    body_dbl(m, "profit", a->profit);
    body_int(m, "open_positions", a->open_positions);
    body_dbl(m, "open_volume", a->open_volume);
}

void body_ea_status(body_t *m, const ea_status_t *s) {
    body_int(m, "time_msc", s->time_msc);
    body_ostr(m, "state", s->state);
    body_bool(m, "terminal_trade_allowed", s->terminal_trade_allowed);
    body_bool(m, "ea_trade_allowed", s->ea_trade_allowed);
    body_int(m, "queue_depth", s->queue_depth);
    body_int(m, "dropped_ticks", s->dropped_ticks);
    body_oint(m, "last_error", s->last_error);
    body_ostr(m, "message", s->message);
    body_obool(m, "connected", s->connected);
}

void body_log(body_t *m, int64_t time_msc, ostr level, ostr message) {
    body_int(m, "time_msc", time_msc);
    body_ostr(m, "level", level);
    body_ostr(m, "message", message);
}

void body_command_ack(body_t *m, ostr command_id, ostr status, ostr reason) {
    body_ostr(m, "command_id", command_id);
    body_ostr(m, "status", status);
    body_ostr(m, "reason", reason);
}

void body_command_result(body_t *m, ostr command_id, int ok, const uint8_t *result, size_t result_len, ostr error) {
    body_ostr(m, "command_id", command_id);
    body_bool(m, "ok", ok);
    if (result && result_len) {
        key(m, "result");
        buf_put(&m->b, result, result_len);
    }
    body_ostr(m, "error", error);
}

/* ---------- decoding the engine's messages ---------- */

/* Reads an optional int: nil leaves *v alone. */
static int opt_int(mp_rd *r, int64_t *v, int *present) {
    if (mp_peek(r) == MP_NIL) return mp_read_nil(r);
    if (present) *present = 1;
    return mp_read_int(r, v);
}

static int opt_str(mp_rd *r, const char **s, uint32_t *n) {
    if (mp_peek(r) == MP_NIL) return mp_read_nil(r);
    if (mp_peek(r) != MP_STR) return mp_skip(r);
    return mp_read_str(r, s, n);
}

int proto_decode(const uint8_t *p, size_t n, engine_msg_t *m) {
    memset(m, 0, sizeof *m);
    mp_rd r;
    mp_rd_init(&r, p, n);
    uint32_t fields;
    if (mp_read_map(&r, &fields)) return -1;
    /* find the type first: keys may come in any order */
    const char *type = NULL;
    uint32_t type_len = 0;
    {
        mp_rd s = r;
        for (uint32_t i = 0; i < fields; i++) {
            const char *k;
            uint32_t kn;
            if (mp_read_str(&s, &k, &kn)) return -1;
            if (mp_key_is(k, kn, "type") && mp_peek(&s) == MP_STR) {
                if (mp_read_str(&s, &type, &type_len)) return -1;
            } else if (mp_skip(&s)) {
                return -1;
            }
        }
        if (s.p != s.end) return -1; /* bytes after the value */
    }
    if (!type) return -1;
    if (mp_key_is(type, type_len, "welcome"))
        m->type = EM_WELCOME;
    else if (mp_key_is(type, type_len, "ack"))
        m->type = EM_ACK;
    else if (mp_key_is(type, type_len, "error"))
        m->type = EM_ERROR;
    else if (mp_key_is(type, type_len, "ping"))
        m->type = EM_PING;
    else if (mp_key_is(type, type_len, "command"))
        m->type = EM_COMMAND;
    else
        return 0;
    for (uint32_t i = 0; i < fields; i++) {
        const char *k;
        uint32_t kn;
        if (mp_read_str(&r, &k, &kn)) return -1;
        int rc = 0;
        if (mp_key_is(k, kn, "protocol"))
            rc = opt_int(&r, &m->protocol, NULL);
        else if (mp_key_is(k, kn, "stream_id"))
            rc = opt_int(&r, &m->stream_id, NULL);
        else if (mp_key_is(k, kn, "resume_seq"))
            rc = opt_int(&r, &m->resume_seq, NULL);
        else if (mp_key_is(k, kn, "server_time"))
            rc = opt_int(&r, &m->server_time, NULL);
        else if (mp_key_is(k, kn, "seq"))
            rc = opt_int(&r, &m->seq, &m->has_seq);
        else if (mp_key_is(k, kn, "role"))
            rc = opt_str(&r, &m->role, &m->role_len);
        else if (mp_key_is(k, kn, "code"))
            rc = opt_str(&r, &m->code, &m->code_len);
        else if (mp_key_is(k, kn, "message"))
            rc = opt_str(&r, &m->message, &m->message_len);
        else if (mp_key_is(k, kn, "field"))
            rc = opt_str(&r, &m->field, &m->field_len);
        else if (mp_key_is(k, kn, "command_id"))
            rc = opt_str(&r, &m->command_id, &m->command_id_len);
        else if (mp_key_is(k, kn, "command"))
            rc = opt_str(&r, &m->command, &m->command_len);
        else if (mp_key_is(k, kn, "created_at"))
            rc = opt_int(&r, &m->created_at, NULL);
        else if (mp_key_is(k, kn, "expires_at"))
            rc = opt_int(&r, &m->expires_at, NULL);
        else if (mp_key_is(k, kn, "payload")) {
            const uint8_t *start = r.p;
            if (mp_peek(&r) == MP_MAP) {
                rc = mp_skip(&r);
                m->payload = start;
                m->payload_len = (size_t)(r.p - start);
            } else {
                rc = mp_skip(&r);
            }
        } else if (mp_key_is(k, kn, "limits") && mp_peek(&r) == MP_MAP) {
            uint32_t ln;
            rc = mp_read_map(&r, &ln);
            for (uint32_t j = 0; j < ln && rc == 0; j++) {
                const char *lk;
                uint32_t lkn;
                rc = mp_read_str(&r, &lk, &lkn);
                if (rc) break;
                if (mp_key_is(lk, lkn, "max_frame_bytes"))
                    rc = opt_int(&r, &m->max_frame_bytes, NULL);
                else if (mp_key_is(lk, lkn, "max_batch_ticks"))
                    rc = opt_int(&r, &m->max_batch_ticks, NULL);
                else if (mp_key_is(lk, lkn, "max_inflight"))
                    rc = opt_int(&r, &m->max_inflight, NULL);
                else
                    rc = mp_skip(&r);
            }
        } else {
            rc = mp_skip(&r);
        }
        if (rc) return -1;
    }
    return 0;
}
