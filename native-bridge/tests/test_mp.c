/*
 * MessagePack against docs/protocol-vectors.json, byte for byte, for EVERY vector:
 *  1. the JSON message converted by the library (mp_from_json: the smallest forms) gives `hex`;
 *  2. `hex` decoded (mp_to_json) and encoded again gives `hex` (so it decodes to the message);
 *  3. every message the bridge itself writes (hello, symbol_spec, tick_batch, deal,
 *     positions_snapshot, account_snapshot, ea_status, log, command_ack, command_result, goodbye)
 *     is rebuilt from the vector's fields with the bridge's own encoders and gives `hex`;
 *  4. every message the bridge reads (welcome, ack, error, ping, command) decodes to the
 *     vector's field values with the bridge's own decoder.
 * Plus the writer's int/float/str/array/map boundaries, the reader's other formats, and JSON edge
 * cases. The vectors file is read with the library's own JSON reader (usage: test_mp VECTORS).
 */
#include <math.h>
#include <stdint.h>

#include "mp.h"
#include "proto.h"
#include "testutil.h"

typedef struct {
    const uint8_t *p;
    size_t n;
} span;

/* Finds `key` in the map at m; positions *v at its value. */
static int find(span m, const char *key, mp_rd *v) {
    mp_rd r;
    mp_rd_init(&r, m.p, m.n);
    uint32_t n;
    if (mp_read_map(&r, &n)) return 0;
    for (uint32_t i = 0; i < n; i++) {
        const char *k;
        uint32_t kn;
        if (mp_read_str(&r, &k, &kn)) return 0;
        if (mp_key_is(k, kn, key)) {
            *v = r;
            return 1;
        }
        if (mp_skip(&r)) return 0;
    }
    return 0;
}

static span value_span(mp_rd r) {
    const uint8_t *s = r.p;
    mp_skip(&r);
    span out = {s, (size_t)(r.p - s)};
    return out;
}

static span get_span(span m, const char *key) {
    mp_rd r;
    span none = {NULL, 0};
    return find(m, key, &r) ? value_span(r) : none;
}

static int64_t get_int(span m, const char *key) {
    mp_rd r;
    int64_t v = 0;
    if (find(m, key, &r)) mp_read_int(&r, &v);
    return v;
}

static double get_dbl(span m, const char *key) {
    mp_rd r;
    double v = 0;
    if (find(m, key, &r)) mp_read_double(&r, &v);
    return v;
}

static int get_bool(span m, const char *key) {
    mp_rd r;
    int v = 0;
    if (find(m, key, &r)) mp_read_bool(&r, &v);
    return v;
}

static ostr get_ostr(span m, const char *key) {
    mp_rd r;
    ostr o = {NULL, 0, OPT_ABSENT};
    if (!find(m, key, &r)) return o;
    if (mp_peek(&r) == MP_NIL) {
        o.st = OPT_NIL;
        return o;
    }
    const char *s;
    uint32_t n;
    if (mp_read_str(&r, &s, &n) == 0) {
        o.p = (const uint8_t *)s;
        o.n = (int32_t)n;
        o.st = OPT_SET;
    }
    return o;
}

static odbl get_odbl(span m, const char *key) {
    mp_rd r;
    odbl o = {0, OPT_ABSENT};
    if (!find(m, key, &r)) return o;
    if (mp_peek(&r) == MP_NIL) {
        o.st = OPT_NIL;
        return o;
    }
    if (mp_read_double(&r, &o.v) == 0) o.st = OPT_SET;
    return o;
}

static oint get_oint(span m, const char *key) {
    mp_rd r;
    oint o = {0, OPT_ABSENT};
    if (!find(m, key, &r)) return o;
    if (mp_peek(&r) == MP_NIL) {
        o.st = OPT_NIL;
        return o;
    }
    if (mp_peek(&r) == MP_BOOL) {
        int b;
        mp_read_bool(&r, &b);
        o.v = b;
        o.st = OPT_SET;
        return o;
    }
    if (mp_read_int(&r, &o.v) == 0) o.st = OPT_SET;
    return o;
}

static int str_is(span m, const char *key, const char *want) {
    ostr o = get_ostr(m, key);
    return o.st == OPT_SET && (size_t)o.n == strlen(want) && memcmp(o.p, want, (size_t)o.n) == 0;
}

/* Reads an array of numbers. */
static uint32_t get_i64s(span m, const char *key, int64_t *out, uint32_t cap) {
    mp_rd r;
    uint32_t n = 0;
    if (!find(m, key, &r) || mp_read_array(&r, &n)) return 0;
    for (uint32_t i = 0; i < n && i < cap; i++) mp_read_int(&r, &out[i]);
    return n;
}

static uint32_t get_dbls(span m, const char *key, double *out, uint32_t cap) {
    mp_rd r;
    uint32_t n = 0;
    if (!find(m, key, &r) || mp_read_array(&r, &n)) return 0;
    for (uint32_t i = 0; i < n && i < cap; i++) mp_read_double(&r, &out[i]);
    return n;
}

/* Builds the whole frame of a durable message from a body. */
static void frame_of(buf_t *out, int type, int64_t seq, body_t *m) {
    proto_frame(out, type, seq, m->b.p, m->b.len, m->fields);
    buf_free(&m->b);
}

static int type_of(const char *s, uint32_t n) {
    for (int i = 0; i < MT_COUNT; i++)
        if (mp_key_is(s, n, msg_type_name(i))) return i;
    return -1;
}

/* Returns 1 when the bridge has an encoder for this message and it was compared. */
static int typed_encode(span msg, const uint8_t *want, size_t want_n, const char *name) {
    ostr type = get_ostr(msg, "type");
    buf_t out = {0};
    int64_t seq = get_int(msg, "seq");
    body_t m = {{0}, 0};
    int done = 1;
    if (str_is(msg, "type", "hello")) {
        hello_t h;
        memset(&h, 0, sizeof h);
        h.token = get_ostr(msg, "token");
        h.instance_id = get_ostr(msg, "instance_id");
        span bridge = get_span(msg, "bridge");
        if (bridge.p) {
            h.bridge_name = get_ostr(bridge, "name");
            h.bridge_version = get_ostr(bridge, "version");
        }
        h.terminal_build = get_oint(msg, "terminal_build");
        span a = get_span(msg, "account");
        h.login = get_int(a, "login");
        h.server = get_ostr(a, "server");
        h.company = get_ostr(a, "company");
        h.currency = get_ostr(a, "currency");
        h.leverage = get_oint(a, "leverage");
        h.margin_mode = get_oint(a, "margin_mode");
        h.trade_mode = get_oint(a, "trade_mode");
        h.server_utc_offset_s = get_oint(a, "server_utc_offset_s");
        span e = get_span(msg, "ea");
        h.ea_name = get_ostr(e, "name");
        h.ea_version = get_ostr(e, "version");
        h.magic = get_oint(e, "magic");
        h.ea_symbol = get_ostr(e, "symbol");
        h.timeframe = get_ostr(e, "timeframe");
        h.strategy = get_ostr(e, "strategy");
        h.last_acked_seq = get_oint(msg, "last_acked_seq");
        proto_hello(&out, &h);
    } else if (str_is(msg, "type", "goodbye")) {
        proto_goodbye(&out, get_ostr(msg, "reason"));
    } else if (str_is(msg, "type", "symbol_spec")) {
        symbol_spec_t s;
        memset(&s, 0, sizeof s);
        s.symbol = get_ostr(msg, "symbol");
        s.digits = get_int(msg, "digits");
        s.point = get_dbl(msg, "point");
        s.contract_size = get_odbl(msg, "contract_size");
        s.tick_size = get_odbl(msg, "tick_size");
        s.tick_value = get_odbl(msg, "tick_value");
        s.currency_base = get_ostr(msg, "currency_base");
        s.currency_profit = get_ostr(msg, "currency_profit");
        s.currency_margin = get_ostr(msg, "currency_margin");
        s.volume_min = get_odbl(msg, "volume_min");
        s.volume_max = get_odbl(msg, "volume_max");
        s.volume_step = get_odbl(msg, "volume_step");
        s.description = get_ostr(msg, "description");
        s.chart_mode = get_oint(msg, "chart_mode");
        body_symbol_spec(&m, &s);
        frame_of(&out, MT_SYMBOL_SPEC, seq, &m);
    } else if (str_is(msg, "type", "tick_batch")) {
        enum { CAP = 64 };
        int64_t time_msc[CAP], volume[CAP], flags64[CAP];
        double bid[CAP], ask[CAP], last[CAP], vreal[CAP];
        uint32_t flags[CAP];
        tick_batch_t t;
        memset(&t, 0, sizeof t);
        ostr sym = get_ostr(msg, "symbol");
        t.symbol = sym.p;
        t.symbol_len = sym.n;
        t.count = get_i64s(msg, "time_msc", time_msc, CAP);
        get_dbls(msg, "bid", bid, CAP);
        get_dbls(msg, "ask", ask, CAP);
        get_dbls(msg, "last", last, CAP);
        get_i64s(msg, "volume", volume, CAP);
        get_dbls(msg, "volume_real", vreal, CAP);
        get_i64s(msg, "flags", flags64, CAP);
        for (uint32_t i = 0; i < t.count && i < CAP; i++) flags[i] = (uint32_t)flags64[i];
        t.time_msc = time_msc;
        t.bid = bid;
        t.ask = ask;
        t.last = last;
        t.volume = volume;
        t.volume_real = vreal;
        t.flags = flags;
        t.first_index = get_int(msg, "first_index");
        span gap = get_span(msg, "gap");
        if (gap.p) {
            t.gap_dropped = get_int(gap, "dropped");
            t.gap_from = get_int(gap, "from_msc");
            t.gap_to = get_int(gap, "to_msc");
        }
        body_tick_batch(&m, &t);
        frame_of(&out, MT_TICK_BATCH, seq, &m);
    } else if (str_is(msg, "type", "deal")) {
        deal_t d;
        memset(&d, 0, sizeof d);
        d.ticket = get_int(msg, "ticket");
        d.order = get_int(msg, "order");
        d.position_id = get_int(msg, "position_id");
        d.time_msc = get_int(msg, "time_msc");
        d.deal_type = get_int(msg, "deal_type");
        d.entry = get_int(msg, "entry");
        d.symbol = get_ostr(msg, "symbol");
        d.volume = get_dbl(msg, "volume");
        d.price = get_dbl(msg, "price");
        d.profit = get_dbl(msg, "profit");
        d.commission = get_dbl(msg, "commission");
        d.swap = get_dbl(msg, "swap");
        d.fee = get_dbl(msg, "fee");
        d.magic = get_int(msg, "magic");
        d.reason = get_int(msg, "reason");
        d.comment = get_ostr(msg, "comment");
        d.external_id = get_ostr(msg, "external_id");
        d.sl = get_odbl(msg, "sl");
        d.tp = get_odbl(msg, "tp");
        body_deal(&m, &d);
        frame_of(&out, MT_DEAL, seq, &m);
    } else if (str_is(msg, "type", "positions_snapshot")) {
        buf_t rows = {0};
        mp_rd r;
        uint32_t n = 0;
        if (find(msg, "positions", &r) && mp_read_array(&r, &n) == 0) {
            for (uint32_t i = 0; i < n; i++) {
                span p = value_span(r);
                mp_skip(&r);
                position_t x;
                memset(&x, 0, sizeof x);
                x.identifier = get_int(p, "identifier");
                x.ticket = get_int(p, "ticket");
                x.symbol = get_ostr(p, "symbol");
                x.position_type = get_int(p, "position_type");
                x.volume = get_dbl(p, "volume");
                x.price_open = get_dbl(p, "price_open");
                x.price_current = get_dbl(p, "price_current");
                x.sl = get_dbl(p, "sl");
                x.tp = get_dbl(p, "tp");
                x.profit = get_dbl(p, "profit");
                x.swap = get_dbl(p, "swap");
                x.magic = get_int(p, "magic");
                x.time_msc = get_int(p, "time_msc");
                x.comment = get_ostr(p, "comment");
                proto_position(&rows, &x);
            }
        }
        body_positions(&m, get_int(msg, "time_msc"), rows.p, rows.len, n);
        buf_free(&rows);
        frame_of(&out, MT_POSITIONS_SNAPSHOT, seq, &m);
    } else if (str_is(msg, "type", "account_snapshot")) {
        account_snapshot_t a = {get_int(msg, "time_msc"),     get_dbl(msg, "balance"),      get_dbl(msg, "equity"),
                                get_dbl(msg, "margin"),       get_dbl(msg, "free_margin"),  get_dbl(msg, "margin_level"),
                                get_dbl(msg, "profit"),       get_int(msg, "open_positions"), get_dbl(msg, "open_volume")};
        body_account_snapshot(&m, &a);
        frame_of(&out, MT_ACCOUNT_SNAPSHOT, seq, &m);
    } else if (str_is(msg, "type", "ea_status")) {
        ea_status_t s;
        memset(&s, 0, sizeof s);
        s.time_msc = get_int(msg, "time_msc");
        s.state = get_ostr(msg, "state");
        s.terminal_trade_allowed = get_bool(msg, "terminal_trade_allowed");
        s.ea_trade_allowed = get_bool(msg, "ea_trade_allowed");
        s.queue_depth = get_int(msg, "queue_depth");
        s.dropped_ticks = get_int(msg, "dropped_ticks");
        s.last_error = get_oint(msg, "last_error");
        s.message = get_ostr(msg, "message");
        s.connected = get_oint(msg, "connected");
        body_ea_status(&m, &s);
        frame_of(&out, MT_EA_STATUS, seq, &m);
    } else if (str_is(msg, "type", "bar_batch")) {
        enum { CAP = 64 };
        int64_t tm[CAP], tv[CAP], rv[CAP], sp64[CAP];
        double o[CAP], hi[CAP], lo[CAP], cl[CAP];
        int32_t sp[CAP];
        ostr sym = get_ostr(msg, "symbol"), tf = get_ostr(msg, "timeframe");
        bar_batch_t b = {sym.p, tf.p, sym.n, tf.n, 0, tm, o, hi, lo, cl, tv, rv, sp};
        b.count = get_i64s(msg, "time", tm, CAP);
        get_dbls(msg, "open", o, CAP);
        get_dbls(msg, "high", hi, CAP);
        get_dbls(msg, "low", lo, CAP);
        get_dbls(msg, "close", cl, CAP);
        get_i64s(msg, "tick_volume", tv, CAP);
        get_i64s(msg, "real_volume", rv, CAP);
        get_i64s(msg, "spread", sp64, CAP);
        for (uint32_t i = 0; i < b.count && i < CAP; i++) sp[i] = (int32_t)sp64[i];
        body_bar_batch(&m, &b);
        frame_of(&out, MT_BAR_BATCH, seq, &m);
    } else if (str_is(msg, "type", "order_event")) {
        order_event_t o;
        memset(&o, 0, sizeof o);
        o.ticket = get_int(msg, "ticket");
        o.time_msc = get_int(msg, "time_msc");
        o.symbol = get_ostr(msg, "symbol");
        o.order_type = get_int(msg, "order_type");
        o.state = get_int(msg, "state");
        o.volume_initial = get_dbl(msg, "volume_initial");
        o.volume_current = get_dbl(msg, "volume_current");
        o.price_open = get_dbl(msg, "price_open");
        o.sl = get_odbl(msg, "sl");
        o.tp = get_odbl(msg, "tp");
        o.magic = get_oint(msg, "magic");
        o.position_id = get_oint(msg, "position_id");
        o.comment = get_ostr(msg, "comment");
        o.event = get_oint(msg, "event");
        body_order_event(&m, &o);
        frame_of(&out, MT_ORDER_EVENT, seq, &m);
    } else if (str_is(msg, "type", "signal")) {
        signal_t g;
        memset(&g, 0, sizeof g);
        g.time_msc = get_int(msg, "time_msc");
        g.symbol = get_ostr(msg, "symbol");
        g.signal_type = get_ostr(msg, "signal_type");
        g.price = get_dbl(msg, "price");
        g.confidence = get_odbl(msg, "confidence");
        g.strategy = get_ostr(msg, "strategy");
        g.timeframe = get_ostr(msg, "timeframe");
        g.reason = get_ostr(msg, "reason");
        g.signal_id = get_ostr(msg, "signal_id");
        /* metadata takes the EA's path: JSON text (as MQL5 hands it over) -> MessagePack */
        span meta = get_span(msg, "metadata");
        buf_t json = {0}, packed = {0};
        if (meta.p) {
            mp_rd r;
            mp_rd_init(&r, meta.p, meta.n);
            char why[96];
            CHECK(mp_to_json(&r, &json) == 0 &&
                      mp_from_json((const char *)json.p, json.len, &packed, 8, 1000, 1, why, sizeof why) == 0,
                  "%s: metadata through JSON", name);
            g.metadata = packed.p;
            g.metadata_len = packed.len;
        }
        body_signal(&m, &g);
        frame_of(&out, MT_SIGNAL, seq, &m);
        buf_free(&json);
        buf_free(&packed);
    } else if (str_is(msg, "type", "log")) {
        body_log(&m, get_int(msg, "time_msc"), get_ostr(msg, "level"), get_ostr(msg, "message"));
        frame_of(&out, MT_LOG, seq, &m);
    } else if (str_is(msg, "type", "command_ack")) {
        body_command_ack(&m, get_ostr(msg, "command_id"), get_ostr(msg, "status"), get_ostr(msg, "reason"));
        frame_of(&out, MT_COMMAND_ACK, seq, &m);
    } else if (str_is(msg, "type", "command_result")) {
        span res = get_span(msg, "result");
        body_command_result(&m, get_ostr(msg, "command_id"), get_bool(msg, "ok"), res.p, res.n, get_ostr(msg, "error"));
        frame_of(&out, MT_COMMAND_RESULT, seq, &m);
    } else {
        done = 0;
    }
    if (done) {
        int same = out.len == want_n && memcmp(out.p, want, want_n) == 0;
        if (!same) {
            char *a = malloc(out.len * 2 + 1), *b = malloc(want_n * 2 + 1);
            t_hex(out.p, out.len, a);
            t_hex(want, want_n, b);
            CHECK(same, "%s (%.*s): bridge encoder wrote\n  %s\nwant\n  %s", name, type.n, (const char *)type.p, a, b);
            free(a);
            free(b);
        } else {
            CHECK(same, "%s", name);
        }
    }
    buf_free(&out);
    return done;
}

static int eq_str(const char *s, uint32_t n, ostr want) {
    return want.st == OPT_SET && (uint32_t)want.n == n && memcmp(s, want.p, n) == 0;
}

/* Returns 1 when the bridge reads this message type and its fields were compared. */
static int typed_decode(span msg, const uint8_t *hex, size_t n, const char *name) {
    engine_msg_t m;
    int rc = proto_decode(hex, n, &m);
    CHECK(rc == 0, "%s: proto_decode failed", name);
    if (rc) return 0;
    if (str_is(msg, "type", "welcome")) {
        CHECK(m.type == EM_WELCOME, "%s: type", name);
        CHECK(m.protocol == get_int(msg, "protocol"), "%s: protocol", name);
        CHECK(m.stream_id == get_int(msg, "stream_id"), "%s: stream_id", name);
        CHECK(m.resume_seq == get_int(msg, "resume_seq"), "%s: resume_seq", name);
        CHECK(m.server_time == get_int(msg, "server_time"), "%s: server_time", name);
        CHECK(eq_str(m.role, m.role_len, get_ostr(msg, "role")), "%s: role", name);
        span lim = get_span(msg, "limits");
        CHECK(m.max_frame_bytes == get_int(lim, "max_frame_bytes"), "%s: max_frame_bytes", name);
        CHECK(m.max_batch_ticks == get_int(lim, "max_batch_ticks"), "%s: max_batch_ticks", name);
        CHECK(m.max_inflight == get_int(lim, "max_inflight"), "%s: max_inflight", name);
        return 1;
    }
    if (str_is(msg, "type", "ack")) {
        CHECK(m.type == EM_ACK && m.has_seq && m.seq == get_int(msg, "seq"), "%s: seq %lld", name, (long long)m.seq);
        return 1;
    }
    if (str_is(msg, "type", "ping")) {
        CHECK(m.type == EM_PING && m.server_time == get_int(msg, "server_time"), "%s", name);
        return 1;
    }
    if (str_is(msg, "type", "error")) {
        CHECK(m.type == EM_ERROR, "%s: type", name);
        CHECK(eq_str(m.code, m.code_len, get_ostr(msg, "code")), "%s: code", name);
        CHECK(eq_str(m.message, m.message_len, get_ostr(msg, "message")), "%s: message", name);
        oint seq = get_oint(msg, "seq");
        CHECK(m.has_seq == (seq.st == OPT_SET) && (!m.has_seq || m.seq == seq.v), "%s: seq", name);
        ostr field = get_ostr(msg, "field");
        CHECK(field.st != OPT_SET || eq_str(m.field, m.field_len, field), "%s: field", name);
        return 1;
    }
    if (str_is(msg, "type", "command")) {
        CHECK(m.type == EM_COMMAND, "%s: type", name);
        CHECK(eq_str(m.command_id, m.command_id_len, get_ostr(msg, "command_id")), "%s: command_id", name);
        CHECK(eq_str(m.command, m.command_len, get_ostr(msg, "command")), "%s: command", name);
        CHECK(m.created_at == get_int(msg, "created_at"), "%s: created_at", name);
        CHECK(m.expires_at == get_int(msg, "expires_at"), "%s: expires_at", name);
        span payload = get_span(msg, "payload");
        CHECK(m.payload && m.payload_len == payload.n && memcmp(m.payload, payload.p, payload.n) == 0, "%s: payload", name);
        /* and the payload as the EA gets it: JSON, which converts back to the same bytes */
        mp_rd r;
        mp_rd_init(&r, m.payload, m.payload_len);
        buf_t json = {0}, back = {0};
        CHECK(mp_to_json(&r, &json) == 0, "%s: payload to JSON", name);
        CHECK(mp_from_json((const char *)json.p, json.len, &back, 8, 1000, 1, NULL, 0) == 0 && back.len == payload.n &&
                  memcmp(back.p, payload.p, payload.n) == 0,
              "%s: payload JSON %.*s does not convert back", name, (int)json.len, (const char *)json.p);
        buf_free(&json);
        buf_free(&back);
        return 1;
    }
    return 0;
}

static void test_vectors(const char *path) {
    size_t n = 0;
    char *text = t_read_file(path, &n);
    CHECK(text != NULL, "cannot read %s", path);
    if (!text) return;
    buf_t doc = {0};
    char err[128] = "";
    int rc = mp_from_json(text, n, &doc, 64, 0, 1, err, sizeof err);
    CHECK(rc == 0, "vectors JSON: %s", err);
    if (rc) {
        free(text);
        return;
    }
    span root = {doc.p, doc.len};
    CHECK(get_int(root, "version") == 1, "vectors version");
    mp_rd r;
    uint32_t count = 0;
    CHECK(find(root, "vectors", &r) && mp_read_array(&r, &count) == 0, "vectors array");
    int directions[4] = {0, 0, 0, 0};
    int encoded = 0, decoded = 0;
    int types_seen[MT_COUNT];
    memset(types_seen, 0, sizeof types_seen);
    for (uint32_t i = 0; i < count; i++) {
        span v = value_span(r);
        mp_skip(&r);
        ostr name_o = get_ostr(v, "name");
        char name[96];
        snprintf(name, sizeof name, "%.*s", name_o.n, (const char *)name_o.p);
        span msg = get_span(v, "message");
        ostr hex = get_ostr(v, "hex");
        uint8_t *want = malloc((size_t)hex.n / 2 + 1);
        size_t want_n = t_unhex((const char *)hex.p, (size_t)hex.n, want);

        /* 1. JSON message -> MessagePack (smallest forms, keys in order) == hex */
        int same = msg.n == want_n && memcmp(msg.p, want, want_n) == 0;
        CHECK(same, "%s: JSON -> MessagePack differs from hex", name);

        /* 2. hex -> one value exactly, -> JSON -> MessagePack == hex */
        mp_rd h;
        mp_rd_init(&h, want, want_n);
        CHECK(mp_skip(&h) == 0 && h.p == h.end, "%s: hex is not exactly one value", name);
        mp_rd_init(&h, want, want_n);
        buf_t json = {0}, back = {0};
        CHECK(mp_to_json(&h, &json) == 0, "%s: hex -> JSON", name);
        CHECK(mp_from_json((const char *)json.p, json.len, &back, 64, 0, 1, err, sizeof err) == 0, "%s: %s", name, err);
        CHECK(back.len == want_n && memcmp(back.p, want, want_n) == 0, "%s: decoded JSON %.*s does not encode back",
              name, (int)json.len, (const char *)json.p);
        buf_free(&json);
        buf_free(&back);

        /* 3 and 4: the bridge's own encoders and decoders */
        if (str_is(v, "direction", "ea_to_engine")) {
            directions[0]++;
            if (typed_encode(msg, want, want_n, name)) {
                encoded++;
                ostr t = get_ostr(msg, "type");
                int ty = type_of((const char *)t.p, (uint32_t)t.n);
                if (ty >= 0) types_seen[ty] = 1;
            }
        } else if (str_is(v, "direction", "engine_to_ea")) {
            directions[1]++;
            if (typed_decode(msg, want, want_n, name)) decoded++;
        } else if (str_is(v, "direction", "dashboard_to_engine")) {
            directions[2]++;
        } else if (str_is(v, "direction", "engine_to_dashboard")) {
            directions[3]++;
        }
        free(want);
    }
    CHECK(count >= 40, "only %u vectors", count);
    CHECK(directions[0] > 0 && directions[1] > 0 && directions[2] > 0 && directions[3] > 0, "every direction");
    CHECK(decoded == directions[1], "decoded %d of %d engine_to_ea vectors", decoded, directions[1]);
    int wanted[] = {MT_SYMBOL_SPEC, MT_TICK_BATCH, MT_DEAL, MT_POSITIONS_SNAPSHOT, MT_ACCOUNT_SNAPSHOT,
                    MT_EA_STATUS, MT_LOG, MT_COMMAND_ACK, MT_COMMAND_RESULT};
    for (size_t k = 0; k < sizeof wanted / sizeof *wanted; k++)
        CHECK(types_seen[wanted[k]], "no vector of %s went through the bridge's encoder", msg_type_name(wanted[k]));
    printf("vectors: %u byte-compared both ways; %d rebuilt with the bridge's encoders, %d read with its decoder\n",
           count, encoded, decoded);
    buf_free(&doc);
    free(text);
}

static void expect_bytes(buf_t *b, const char *hex, const char *what) {
    char got[256];
    t_hex(b->p, b->len < 120 ? b->len : 120, got);
    CHECK(strcmp(got, hex) == 0, "%s: got %s want %s", what, got, hex);
    b->len = 0;
}

static void test_writer(void) {
    buf_t b = {0};
    struct {
        int64_t v;
        const char *hex;
    } ints[] = {
        {0, "00"},
        {127, "7f"},
        {128, "cc80"},
        {255, "ccff"},
        {256, "cd0100"},
        {65535, "cdffff"},
        {65536, "ce00010000"},
        {4294967295LL, "ceffffffff"},
        {4294967296LL, "d30000000100000000"},
        {9007199254740991LL, "d3001fffffffffffff"},
        {-1, "ff"},
        {-32, "e0"},
        {-33, "d0df"},
        {-128, "d080"},
        {-129, "d1ff7f"},
        {-32768, "d18000"},
        {-32769, "d2ffff7fff"},
        {-2147483648LL, "d280000000"},
        {-2147483649LL, "d3ffffffff7fffffff"},
        {-5000000000LL, "d3fffffffed5fa0e00"},
    };
    for (size_t i = 0; i < sizeof ints / sizeof *ints; i++) {
        mp_int(&b, ints[i].v);
        char what[64];
        snprintf(what, sizeof what, "int %lld", (long long)ints[i].v);
        expect_bytes(&b, ints[i].hex, what);
    }
    mp_double(&b, 1.0);
    expect_bytes(&b, "01", "float field 1.0 as int");
    mp_double(&b, -0.0);
    expect_bytes(&b, "00", "-0.0 as int 0");
    mp_double(&b, 10000.0);
    expect_bytes(&b, "cd2710", "10000.0");
    mp_double(&b, 1.05123);
    expect_bytes(&b, "cb3ff0d1d68c692f6f", "1.05123 as float 64");
    mp_double(&b, 9007199254740992.0);
    expect_bytes(&b, "cb4340000000000000", "2^53 stays a float");
    mp_double(&b, NAN);
    CHECK(b.len == 9 && b.p[0] == 0xcb, "NaN as float 64 (callers refuse it before)");
    b.len = 0;
    char s[70000];
    memset(s, 'x', sizeof s);
    mp_str(&b, s, 31);
    CHECK(b.len == 32 && b.p[0] == 0xbf, "fixstr 31");
    b.len = 0;
    mp_str(&b, s, 32);
    CHECK(b.len == 34 && b.p[0] == 0xd9 && b.p[1] == 32, "str 8");
    b.len = 0;
    mp_str(&b, s, 256);
    CHECK(b.len == 259 && b.p[0] == 0xda && b.p[1] == 1 && b.p[2] == 0, "str 16");
    b.len = 0;
    mp_str(&b, s, 65536);
    CHECK(b.len == 65541 && b.p[0] == 0xdb, "str 32");
    b.len = 0;
    mp_array(&b, 15);
    expect_bytes(&b, "9f", "fixarray 15");
    mp_array(&b, 16);
    expect_bytes(&b, "dc0010", "array 16");
    mp_array(&b, 70000);
    expect_bytes(&b, "dd00011170", "array 32");
    mp_map(&b, 15);
    expect_bytes(&b, "8f", "fixmap 15");
    mp_map(&b, 16);
    expect_bytes(&b, "de0010", "map 16");
    buf_free(&b);
}

/* mp_skip steps over what a field it does not read may hold: every valid MessagePack value. */
static void test_skip(void) {
    mp_rd r;
    /* A uint 64 above INT64_MAX is valid MessagePack; an unknown field holding one must not fail the
     * frame (the readers refuse it only where a value is wanted). */
    uint8_t big[] = {0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xcf, 0x80, 0, 0, 0, 0, 0, 0, 0};
    mp_rd_init(&r, big, sizeof big);
    CHECK(mp_skip(&r) == 0 && mp_skip(&r) == 0 && r.p == r.end, "uint 64 above INT64_MAX skipped");
    /* ext formats: not in the protocol's subset, but valid MessagePack, so skippable */
    uint8_t ext[] = {0xd4, 1, 2, 0xd5, 1, 2, 3, 0xd6, 1, 0, 0, 0, 0, 0xd7, 0xff, 0, 0, 0, 0, 0, 0, 0, 0,
                     0xd8, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                     0xc7, 2, 5, 'a', 'b', 0xc8, 0, 1, 5, 'c', 0xc9, 0, 0, 0, 0, 5};
    mp_rd_init(&r, ext, sizeof ext);
    int skipped = 0;
    while (r.p < r.end && mp_skip(&r) == 0) skipped++;
    CHECK(skipped == 8 && r.p == r.end && !r.err, "8 ext values skipped, got %d", skipped);
    /* bin 8/16/32, float 32/64, every int width, nil/bool, fixstr, str 8 */
    uint8_t misc[] = {0xc4, 1, 9, 0xc5, 0, 0, 0xc6, 0, 0, 0, 1, 9, 0xca, 0, 0, 0, 0, 0xcb, 0, 0, 0, 0, 0, 0, 0, 0,
                      0xcc, 1, 0xcd, 0, 1, 0xce, 0, 0, 0, 1, 0xd0, 1, 0xd1, 0, 1, 0xd2, 0, 0, 0, 1, 0xd3, 0, 0, 0, 0, 0, 0, 0, 1,
                      0xc0, 0xc2, 0xc3, 0xa1, 'x', 0xd9, 1, 'y', 0x7f, 0xe0};
    mp_rd_init(&r, misc, sizeof misc);
    skipped = 0;
    while (r.p < r.end && mp_skip(&r) == 0) skipped++;
    CHECK(skipped == 19 && r.p == r.end && !r.err, "19 scalars skipped, got %d", skipped);
    /* nesting: deeper than any recursion budget (no stack to exhaust), and the count of what is
     * still to skip is checked against the bytes left */
    static uint8_t deep[100001];
    memset(deep, 0x91, sizeof deep - 1);
    deep[sizeof deep - 1] = 0xc0;
    mp_rd_init(&r, deep, sizeof deep);
    CHECK(mp_skip(&r) == 0 && r.p == r.end, "100000 nested arrays skipped");
    mp_rd_init(&r, deep, sizeof deep - 1);
    CHECK(mp_skip(&r) != 0, "nested arrays without their innermost value refused");
    uint8_t map32[] = {0xdf, 0, 0, 0, 2, 0xa1, 'a', 0x90, 0xa1, 'b', 0xde, 0, 0};
    mp_rd_init(&r, map32, sizeof map32);
    CHECK(mp_skip(&r) == 0 && r.p == r.end, "map 32 holding an array and a map 16");
    uint8_t short_map[] = {0x82, 0xa1, 'a', 1, 0xa1, 'b'};
    mp_rd_init(&r, short_map, sizeof short_map);
    CHECK(mp_skip(&r) != 0, "map missing its last value refused");
    uint8_t short_bin[] = {0xc6, 0xff, 0xff, 0xff, 0xff, 0};
    mp_rd_init(&r, short_bin, sizeof short_bin);
    CHECK(mp_skip(&r) != 0, "bin 32 longer than the buffer refused");
    uint8_t short_ext[] = {0xc9, 0, 0, 0, 1, 5};
    mp_rd_init(&r, short_ext, sizeof short_ext);
    CHECK(mp_skip(&r) != 0, "ext 32 without its data refused");
    uint8_t c1[] = {0x91, 0xc1};
    mp_rd_init(&r, c1, sizeof c1);
    CHECK(mp_skip(&r) != 0, "0xc1 inside an array refused");
    /* the decoder ignores an unknown field holding such a value */
    uint8_t ack[] = {0x83, 0xa4, 't', 'y', 'p', 'e', 0xa3, 'a', 'c', 'k', 0xa1, 'z', 0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                     0xff, 0xa3, 's', 'e', 'q', 7};
    engine_msg_t m;
    CHECK(proto_decode(ack, sizeof ack, &m) == 0 && m.type == EM_ACK && m.seq == 7, "ack with a huge unknown field");
}

static void test_reader(void) {
    /* every int format, float 32, and the failures */
    uint8_t v1[] = {0xcf, 0, 0, 0, 0, 0, 0, 1, 0}; /* uint 64: 256 */
    mp_rd r;
    int64_t iv = 0;
    double dv = 0;
    mp_rd_init(&r, v1, sizeof v1);
    CHECK(mp_read_int(&r, &iv) == 0 && iv == 256, "uint 64");
    uint8_t v2[] = {0xca, 0x3f, 0xc0, 0, 0}; /* float 32: 1.5 */
    mp_rd_init(&r, v2, sizeof v2);
    CHECK(mp_read_double(&r, &dv) == 0 && dv == 1.5, "float 32");
    mp_rd_init(&r, v2, sizeof v2);
    CHECK(mp_read_int(&r, &iv) != 0, "1.5 is not an int");
    uint8_t v3[] = {0xcb, 0x40, 0x14, 0, 0, 0, 0, 0, 0}; /* float 64: 5.0 */
    mp_rd_init(&r, v3, sizeof v3);
    CHECK(mp_read_int(&r, &iv) == 0 && iv == 5, "whole float as int");
    uint8_t v4[] = {0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    mp_rd_init(&r, v4, sizeof v4);
    CHECK(mp_read_int(&r, &iv) != 0, "uint 64 beyond int64 refused");
    uint8_t v5[] = {0xd0, 0x80, 0xd1, 0x80, 0x00, 0xd2, 0x80, 0, 0, 0, 0xcc, 0xff, 0xcd, 0xff, 0xff, 0xce, 0xff, 0xff, 0xff, 0xff};
    mp_rd_init(&r, v5, sizeof v5);
    int64_t want5[] = {-128, -32768, -2147483648LL, 255, 65535, 4294967295LL};
    for (int i = 0; i < 6; i++) CHECK(mp_read_int(&r, &iv) == 0 && iv == want5[i], "int format %d", i);
    uint8_t trunc[] = {0xcd, 0x01};
    mp_rd_init(&r, trunc, sizeof trunc);
    CHECK(mp_read_int(&r, &iv) != 0, "truncated int");
    test_skip();
    uint8_t c1[] = {0xc1};
    mp_rd_init(&r, c1, 1);
    CHECK(mp_skip(&r) != 0, "0xc1 refused");
    uint8_t bigarr[] = {0xdd, 0xff, 0xff, 0xff, 0xff};
    mp_rd_init(&r, bigarr, sizeof bigarr);
    uint32_t n;
    CHECK(mp_read_array(&r, &n) != 0, "array count beyond the buffer refused");
    /* str 8/16/32, bin skipped, map 16 read */
    uint8_t strs[] = {0xd9, 2, 'h', 'i', 0xda, 0, 1, 'x', 0xdb, 0, 0, 0, 1, 'y', 0xc4, 2, 1, 2, 0xde, 0, 1, 0xa1, 'k', 0xc0};
    mp_rd_init(&r, strs, sizeof strs);
    const char *sp;
    CHECK(mp_read_str(&r, &sp, &n) == 0 && n == 2 && sp[0] == 'h', "str 8");
    CHECK(mp_read_str(&r, &sp, &n) == 0 && n == 1 && sp[0] == 'x', "str 16");
    CHECK(mp_read_str(&r, &sp, &n) == 0 && n == 1 && sp[0] == 'y', "str 32");
    CHECK(mp_skip(&r) == 0, "bin skipped");
    CHECK(mp_read_map(&r, &n) == 0 && n == 1, "map 16");
    /* the decoder finds fields in any order and ignores unknown ones */
    uint8_t ack[] = {0x83, 0xa3, 's', 'e', 'q', 0xcd, 0x04, 0x13, 0xa1, 'z', 0x90, 0xa4, 't', 'y', 'p', 'e', 0xa3, 'a', 'c', 'k'};
    engine_msg_t m;
    CHECK(proto_decode(ack, sizeof ack, &m) == 0 && m.type == EM_ACK && m.seq == 1043, "ack with seq first");
    uint8_t extra[] = {0x81, 0xa4, 't', 'y', 'p', 'e', 0xa3, 'a', 'c', 'k', 0x00};
    CHECK(proto_decode(extra, sizeof extra, &m) != 0, "bytes after the value refused");
    uint8_t other[] = {0x81, 0xa4, 't', 'y', 'p', 'e', 0xa3, 'f', 'o', 'o'};
    CHECK(proto_decode(other, sizeof other, &m) == 0 && m.type == EM_UNKNOWN, "unknown type ignored");
}

static void test_json(void) {
    buf_t b = {0};
    char err[96];
    /* escapes and surrogate pairs */
    const char *j1 = "{\"a\\\"b\":\"\\u00e9\\ud83d\\ude80\\n\\t\\/\"}";
    CHECK(mp_from_json(j1, strlen(j1), &b, 8, 1000, 1, err, sizeof err) == 0, "escapes: %s", err);
    uint8_t want1[] = {0x81, 0xa3, 'a', '"', 'b', 0xa9, 0xc3, 0xa9, 0xf0, 0x9f, 0x9a, 0x80, '\n', '\t', '/'};
    CHECK(b.len == sizeof want1 && memcmp(b.p, want1, sizeof want1) == 0, "escapes decoded");
    b.len = 0;
    const char *bad[] = {"{\"a\":\"\\ud83d\"}", "{\"a\":1,}", "{\"a\" 1}", "[1]", "{\"a\":01}", "{\"a\":\"\x01\"}",
                         "{\"a\":tru}", "{\"a\":1} x", "{\"a\":\"\xc0\xaf\"}", "", "{\"a\":1e999}"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        CHECK(mp_from_json(bad[i], strlen(bad[i]), &b, 8, 1000, 1, err, sizeof err) != 0 && b.len == 0,
              "bad JSON %zu accepted: %s", i, bad[i]);
    /* depth: the object is level 1; 8 allowed, 9 refused */
    const char *d8 = "{\"a\":[[[[[[[1]]]]]]]}";
    const char *d9 = "{\"a\":[[[[[[[[1]]]]]]]]}";
    CHECK(mp_from_json(d8, strlen(d8), &b, 8, 1000, 1, err, sizeof err) == 0, "depth 8: %s", err);
    b.len = 0;
    CHECK(mp_from_json(d9, strlen(d9), &b, 8, 1000, 1, err, sizeof err) != 0, "depth 9 refused");
    /* value count */
    char many[8200] = "{\"a\":[";
    for (int i = 0; i < 1000; i++) strcat(many, i ? ",1" : "1");
    strcat(many, "]}");
    CHECK(mp_from_json(many, strlen(many), &b, 8, 1000, 1, err, sizeof err) != 0, "1001 values refused");
    b.len = 0;
    CHECK(mp_from_json(many, strlen(many), &b, 8, 1001, 1, err, sizeof err) == 0, "1001 values with a limit of 1001");
    CHECK(b.len > 3 && b.p[3] == 0xdc, "array 16 from JSON");
    b.len = 0;
    /* numbers: ints, whole floats as ints, big ints as floats */
    const char *nums = "[0,-1,1.0,2.5,1e2,9007199254740991,9007199254740992,-9007199254740991,12345678901234567890]";
    CHECK(mp_from_json(nums, strlen(nums), &b, 8, 0, 0, err, sizeof err) == 0, "numbers: %s", err);
    mp_rd r;
    mp_rd_init(&r, b.p, b.len);
    uint32_t n;
    mp_read_array(&r, &n);
    int64_t iv;
    double dv;
    CHECK(mp_read_int(&r, &iv) == 0 && iv == 0, "0");
    CHECK(mp_read_int(&r, &iv) == 0 && iv == -1, "-1");
    CHECK(*r.p == 0x01, "1.0 written as int 1");
    mp_read_int(&r, &iv);
    CHECK(*r.p == 0xcb, "2.5 as float 64");
    mp_read_double(&r, &dv);
    CHECK(*r.p == 0x64, "1e2 as int 100");
    mp_read_int(&r, &iv);
    CHECK(*r.p == 0xd3 && mp_read_int(&r, &iv) == 0 && iv == 9007199254740991LL, "max safe as int 64");
    CHECK(*r.p == 0xcb, "2^53 as float");
    mp_read_double(&r, &dv);
    CHECK(mp_read_int(&r, &iv) == 0 && iv == -9007199254740991LL, "min safe");
    CHECK(*r.p == 0xcb, "huge int as float");
    b.len = 0;
    /* doubles survive MessagePack -> JSON -> MessagePack exactly */
    uint64_t x = 0x9e3779b97f4a7c15ULL;
    int exact = 1;
    for (int i = 0; i < 20000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        double d;
        uint64_t bits = x;
        memcpy(&d, &bits, 8);
        if (d != d || isinf(d)) continue;
        buf_t one = {0}, json = {0}, back = {0};
        mp_array(&one, 1);
        mp_float64(&one, d);
        mp_rd_init(&r, one.p, one.len);
        mp_to_json(&r, &json);
        mp_from_json((const char *)json.p, json.len, &back, 8, 0, 0, NULL, 0);
        mp_rd_init(&r, back.p, back.len);
        mp_read_array(&r, &n);
        double got = 0;
        mp_read_double(&r, &got);
        if (got != d) {
            exact = 0;
            fprintf(stderr, "double %.17g -> %.*s -> %.17g\n", d, (int)json.len, (const char *)json.p, got);
        }
        buf_free(&one);
        buf_free(&json);
        buf_free(&back);
        if (!exact) break;
    }
    CHECK(exact, "random doubles round-trip through JSON");
    /* UTF-8 validation */
    CHECK(utf8_valid((const uint8_t *)"\xe6\x97\xa5\xf0\x9f\x9a\x80", 7), "valid UTF-8");
    CHECK(!utf8_valid((const uint8_t *)"\xed\xa0\x80", 3), "surrogate refused");
    CHECK(!utf8_valid((const uint8_t *)"\xe0\x80\xaf", 3), "overlong refused");
    CHECK(!utf8_valid((const uint8_t *)"\xf4\x90\x80\x80", 4), "above U+10FFFF refused");
    CHECK(!utf8_valid((const uint8_t *)"\xe6\x97", 2), "truncated refused");
    buf_free(&b);
}

int main(int argc, char **argv) {
    const char *path = argc > 1 ? argv[1] : "../docs/protocol-vectors.json";
    test_writer();
    test_reader();
    test_json();
    test_vectors(path);
    return t_done("test_mp");
}
