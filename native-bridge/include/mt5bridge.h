/*
 * mt5bridge: the MetaTrader 5 side of mt5-engine, as a C11 library (libmt5bridge.so, mt5bridge.dll).
 *
 * Every exported function takes numbers and UTF-8 byte arrays with explicit lengths, and writes
 * into caller-sized buffers: no structs, no wchar_t, nothing allocated for the caller. A handle is
 * one EA instance; every handle of a process shares one background I/O thread, so the calling
 * (EA) thread never touches the network and no call blocks on it.
 *
 * The wire protocol is docs/PROTOCOL.md of mt5-engine; docs/protocol-vectors.json pins its bytes.
 *
 * Return values: >= 0 success (meaning given per function), < 0 one of MT5B_E_*.
 */
#ifndef MT5BRIDGE_H
#define MT5BRIDGE_H

#include <stdint.h>

#ifdef _WIN32
#define MT5B_API __declspec(dllexport)
#define MT5B_CALL __stdcall
#else
#define MT5B_API __attribute__((visibility("default")))
#define MT5B_CALL
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Errors (negative return values). */
#define MT5B_E_ARG -1        /* an argument is out of range or a length is negative */
#define MT5B_E_HANDLE -2     /* no such handle (never opened, or closed) */
#define MT5B_E_FULL -3       /* the durable queue is full: keep the data and try again later */
#define MT5B_E_BUFFER -4     /* an output buffer is too small; nothing was consumed */
#define MT5B_E_STATE -5      /* not allowed now (e.g. configuring after start) */
#define MT5B_E_NOMEM -6
#define MT5B_E_THREAD -7     /* the I/O thread could not be started */
#define MT5B_E_UTF8 -8       /* a string is not valid UTF-8 */

/* Command acknowledgement statuses (mt5b_command_ack). */
#define MT5B_ACK_ACCEPTED 0
#define MT5B_ACK_REJECTED 1
#define MT5B_ACK_DUPLICATE 2
#define MT5B_ACK_EXPIRED 3

/* Indexes into mt5b_stats' output array. */
#define MT5B_STAT_CONNECTED 0      /* 1 while a session is open (after welcome) */
#define MT5B_STAT_SENT 1           /* durable messages put on the wire, resends included */
#define MT5B_STAT_ACKED_SEQ 2      /* highest seq the engine acknowledged */
#define MT5B_STAT_QUEUE_DEPTH 3    /* durable messages waiting for an ack */
#define MT5B_STAT_TICKS_QUEUED 4   /* ticks in the ring now */
#define MT5B_STAT_TICKS_DROPPED 5  /* ticks the ring dropped (oldest first) since open */
#define MT5B_STAT_RECONNECTS 6
#define MT5B_STAT_COMMANDS_WAITING 7
#define MT5B_STAT_LAST_ERROR 8     /* last error code seen from the engine or the network, 0 none (MT5B_ERR_*) */
#define MT5B_STAT_SEQ_BASE 9       /* seq = the handle's message number (1, 2, ...) + this; set at welcome */
#define MT5B_STAT_COUNT 10

/*
 * MT5B_STAT_LAST_ERROR values: a WebSocket close code the engine closed with (1000 .. 4999, e.g.
 * 4001 AUTH_FAILED, 4009 REPLACED), an engine error frame's code (MT5B_ERR_ENGINE + its number
 * below), or a local failure.
 */
#define MT5B_ERR_CONNECT 1       /* TCP connect failed (engine down, wrong host/port) */
#define MT5B_ERR_HANDSHAKE 2     /* the WebSocket upgrade was refused or wrong */
#define MT5B_ERR_TIMEOUT 3       /* connect, handshake, welcome or keepalive timed out */
#define MT5B_ERR_LOST 4          /* the connection broke (reset, EOF without a close frame) */
#define MT5B_ERR_PROTOCOL 5      /* the engine sent something this library cannot read */
#define MT5B_ERR_TOO_LARGE 6     /* a queued message exceeded welcome.limits.max_frame_bytes */
#define MT5B_ERR_ENGINE 100      /* + 1 BAD_FRAME, 2 BAD_MESSAGE, 3 UNKNOWN_TYPE, 4 BAD_FIELD,
                                    5 HELLO_REQUIRED, 6 UNSUPPORTED_PROTOCOL, 7 AUTH_FAILED,
                                    8 FORBIDDEN, 9 FRAME_TOO_LARGE, 10 RATE_LIMITED, 11 SEQ_GAP,
                                    12 SEQ_REGRESSION, 13 STORAGE_FAILED, 14 REPLACED,
                                    15 SHUTTING_DOWN, 16 INTERNAL, 99 any other code */

/* Library version as "major.minor.patch"; returns the length written, or MT5B_E_BUFFER. */
MT5B_API int32_t MT5B_CALL mt5b_version(uint8_t *out, int32_t cap);

/*
 * Opens a handle for one EA instance. `url` is ws://host:port/v1; `instance_id` must stay the same
 * across restarts of this EA on this chart. Returns the handle (> 0) or an error. Nothing connects
 * until mt5b_start.
 */
MT5B_API int64_t MT5B_CALL mt5b_open(const uint8_t *url, int32_t url_len, const uint8_t *token, int32_t token_len,
                                     const uint8_t *instance_id, int32_t instance_len);

/*
 * The account the hello announces (ACCOUNT_* values). Before mt5b_start. Optional values left out
 * of the hello: company/currency empty, leverage <= 0, margin_mode/trade_mode < 0,
 * server_utc_offset_s outside -43200 .. 50400 (pass INT32_MIN).
 */
MT5B_API int32_t MT5B_CALL mt5b_set_account(int64_t h, int64_t login, const uint8_t *server, int32_t server_len,
                                            const uint8_t *company, int32_t company_len, const uint8_t *currency,
                                            int32_t currency_len, int32_t leverage, int32_t margin_mode,
                                            int32_t trade_mode, int32_t server_utc_offset_s);

/*
 * The EA the hello announces. `timeframe` is M1 .. MN1 or empty. Before mt5b_start. Left out of the
 * hello when empty: version, symbol, timeframe; terminal_build when < 0.
 */
MT5B_API int32_t MT5B_CALL mt5b_set_ea(int64_t h, const uint8_t *name, int32_t name_len, const uint8_t *version,
                                       int32_t version_len, int64_t magic, const uint8_t *symbol, int32_t symbol_len,
                                       const uint8_t *timeframe, int32_t timeframe_len, int32_t terminal_build);

/* The EA's strategy tag (hello's ea.strategy, at most 128 bytes; empty: none). Before mt5b_start. */
MT5B_API int32_t MT5B_CALL mt5b_set_strategy(int64_t h, const uint8_t *strategy, int32_t strategy_len);

/*
 * Sizes, before mt5b_start: ticks the ring holds (power of two, default 65536), durable messages
 * the queue holds (default 100000), commands the inbox holds (default 256). 0 keeps a default.
 */
MT5B_API int32_t MT5B_CALL mt5b_set_limits(int64_t h, int32_t tick_ring, int32_t durable_queue, int32_t command_inbox);

/*
 * Reconnect backoff, before mt5b_start: the first delay, doubled up to max_ms, +-20 % jitter, reset
 * after a connection that stayed open for a minute (defaults 1000 and 30000, as docs/PROTOCOL.md
 * 3.7 asks). 0 keeps a default. After close 4001/4003/4004/4009 the wait is at least 60 s anyway.
 */
MT5B_API int32_t MT5B_CALL mt5b_set_reconnect(int64_t h, int32_t min_ms, int32_t max_ms);

/* Starts connecting (and reconnecting with backoff and jitter) on the I/O thread. */
MT5B_API int32_t MT5B_CALL mt5b_start(int64_t h);

/*
 * One tick into the handle's lock-free ring; never blocks. When the ring is full the oldest tick
 * is dropped and counted; the next tick_batch carries the gap. Returns 0. Ticks of one symbol in
 * the same millisecond are numbered in call order (the tick's key on the engine). Prices must be
 * finite and >= 0, volume >= 0; at most 256 symbols per handle. Before mt5b_start: MT5B_E_STATE.
 * A handle's ticks must come from one thread at a time (the EA's).
 */
MT5B_API int32_t MT5B_CALL mt5b_tick(int64_t h, const uint8_t *symbol, int32_t symbol_len, int64_t time_msc,
                                     double bid, double ask, double last, int64_t volume, double volume_real,
                                     int32_t flags);

/*
 * `count` ticks of one symbol (arrays as CopyTicksRange fills them, split by field), with the
 * number of ticks at time_msc[0] already sent before (the EA's cursor). Returns `count`.
 */
MT5B_API int32_t MT5B_CALL mt5b_ticks(int64_t h, const uint8_t *symbol, int32_t symbol_len, const int64_t *time_msc,
                                      const double *bid, const double *ask, const double *last,
                                      const int64_t *volume, const double *volume_real, const int32_t *flags,
                                      int32_t count, int32_t first_index);

/*
 * bar_batch: `count` (1 .. 5000) bars of one symbol and timeframe (M1 .. MN1), as CopyRates fills
 * MqlRates, split by field; time_msc is the bar's open time in server time, milliseconds (MqlRates.time
 * * 1000). Every bar must have low <= open, close <= high, finite prices >= 0, volumes >= 0, spread
 * >= 0; one bad bar refuses the call (MT5B_E_ARG), since the engine would refuse the whole batch.
 */
MT5B_API int64_t MT5B_CALL mt5b_bar_batch(int64_t h, const uint8_t *symbol, int32_t symbol_len, const uint8_t *timeframe,
                                          int32_t timeframe_len, const int64_t *time_msc, const double *open,
                                          const double *high, const double *low, const double *close,
                                          const int64_t *tick_volume, const int64_t *real_volume, const int32_t *spread,
                                          int32_t count);

/*
 * order_event: an order's state as OnTradeTransaction reported it (ORDER_* properties). sl, tp,
 * magic and position_id are always sent (0 = none); an empty comment is left out; event is the
 * TRADE_TRANSACTION_TYPE (0 .. 10), or -1 to leave it out.
 */
MT5B_API int64_t MT5B_CALL mt5b_order_event(int64_t h, int64_t ticket, int64_t time_msc, const uint8_t *symbol,
                                            int32_t symbol_len, int32_t order_type, int32_t state, double volume_initial,
                                            double volume_current, double price_open, double sl, double tp, int64_t magic,
                                            int64_t position_id, const uint8_t *comment, int32_t comment_len,
                                            int32_t event);

/*
 * signal: signal_type "buy", "sell", "close" or "hold"; confidence 0 .. 1, or < 0 to leave it out;
 * strategy, timeframe, reason and signal_id are left out when empty; metadata_json is a JSON object
 * (or empty for none), sent as a MessagePack map (8 levels and 1000 values at most, as for
 * mt5b_command_result). signal_id, when given, makes a resent signal land once (an id: 1 .. 128
 * bytes, no control characters).
 */
MT5B_API int64_t MT5B_CALL mt5b_signal(int64_t h, int64_t time_msc, const uint8_t *symbol, int32_t symbol_len,
                                       const uint8_t *signal_type, int32_t signal_type_len, double price, double confidence,
                                       const uint8_t *strategy, int32_t strategy_len, const uint8_t *timeframe,
                                       int32_t timeframe_len, const uint8_t *reason, int32_t reason_len,
                                       const uint8_t *metadata_json, int32_t metadata_len, const uint8_t *signal_id,
                                       int32_t signal_id_len);

/*
 * The newest tick of `symbol` that the engine acknowledged on this handle: its time_msc and how many
 * ticks of that millisecond were sent up to and including it (the tick's index + 1). Returns 1 and
 * fills both, or 0 when no tick of the symbol was acknowledged yet (nothing is written). An EA
 * resumes from this cursor after a restart (docs/PROTOCOL.md, tick_batch): every tick up to it is
 * stored, so nothing before it needs sending again. A handle's cursors start empty.
 */
MT5B_API int32_t MT5B_CALL mt5b_tick_cursor(int64_t h, const uint8_t *symbol, int32_t symbol_len, int64_t *time_msc,
                                            int32_t *count);

/*
 * Durable messages: queued, sent, resent until acknowledged. Each returns its seq (> 0) or an
 * error; the message is acknowledged once MT5B_STAT_ACKED_SEQ reaches it. The library numbers
 * what it keeps from welcome.resume_seq + 1 (protocol 3.2): a seq returned before the handle's
 * first welcome is provisional (that welcome shifts every kept message by the stream's
 * resume_seq; MT5B_STAT_SEQ_BASE tells by how much), and so is one returned before a welcome that
 * renumbers (the engine lost what it had acknowledged; the library then queues an error log).
 * Before mt5b_start: MT5B_E_STATE.
 * mt5b_symbol_spec2: a negative contract_size, tick_size, tick_value, volume_min/max/step is left out.
 * chart_mode is SYMBOL_CHART_MODE (0 bars from Bid, 1 from Last), or -1 to leave it out (the engine
 * then keeps what it stored, `bid` for a new symbol); other values: MT5B_E_ARG.
 */
MT5B_API int64_t MT5B_CALL mt5b_symbol_spec2(int64_t h, const uint8_t *symbol, int32_t symbol_len, int32_t digits,
                                             double point, double contract_size, double tick_size, double tick_value,
                                             double volume_min, double volume_max, double volume_step,
                                             int32_t chart_mode);

/*
 * Deprecated: mt5b_symbol_spec2 with chart_mode -1. Kept unchanged since 0.1.0 so that an EA built
 * against the old import still calls a function of the signature it expects (MQL5 does not check
 * an imported function's parameters: a changed signature would read garbage, not fail).
 */
MT5B_API int64_t MT5B_CALL mt5b_symbol_spec(int64_t h, const uint8_t *symbol, int32_t symbol_len, int32_t digits,
                                            double point, double contract_size, double tick_size, double tick_value,
                                            double volume_min, double volume_max, double volume_step);

MT5B_API int64_t MT5B_CALL mt5b_deal(int64_t h, int64_t ticket, int64_t order, int64_t position_id, int64_t time_msc,
                                     int32_t deal_type, int32_t entry, const uint8_t *symbol, int32_t symbol_len,
                                     double volume, double price, double profit, double commission, double swap,
                                     double fee, int64_t magic, int32_t reason, const uint8_t *comment,
                                     int32_t comment_len);

/*
 * A positions snapshot is built in three steps on the EA thread; end queues it as one message.
 * positions_add returns the rows so far; MT5B_E_FULL past 10000 rows. positions_end returns
 * MT5B_E_ARG when the message would exceed 1 MiB (some 5000 positions): split by symbol then.
 */
MT5B_API int32_t MT5B_CALL mt5b_positions_begin(int64_t h, int64_t time_msc);
MT5B_API int32_t MT5B_CALL mt5b_positions_add(int64_t h, int64_t identifier, int64_t ticket, const uint8_t *symbol,
                                              int32_t symbol_len, int32_t position_type, double volume,
                                              double price_open, double price_current, double sl, double tp,
                                              double profit, double swap, int64_t magic, int64_t time_msc);
MT5B_API int64_t MT5B_CALL mt5b_positions_end(int64_t h);

MT5B_API int64_t MT5B_CALL mt5b_account_snapshot(int64_t h, int64_t time_msc, double balance, double equity,
                                                 double margin, double free_margin, double margin_level,
                                                 double profit, int32_t open_positions, double open_volume);

/*
 * state: 0 running, 1 paused, 2 stopping, 3 error. queue_depth and dropped_ticks are filled in by
 * the library. Left out when negative: connected, last_error; message when empty.
 */
MT5B_API int64_t MT5B_CALL mt5b_status(int64_t h, int64_t time_msc, int32_t state, int32_t terminal_trade_allowed,
                                       int32_t ea_trade_allowed, int32_t connected, int32_t last_error,
                                       const uint8_t *message, int32_t message_len);

/* level: 0 debug, 1 info, 2 warn, 3 error. */
MT5B_API int64_t MT5B_CALL mt5b_log(int64_t h, int64_t time_msc, int32_t level, const uint8_t *message,
                                    int32_t message_len);

/*
 * Takes the oldest delivered command out of the inbox. Returns 1 and fills the buffers (lengths in
 * *_len; payload as JSON text), 0 when the inbox is empty, MT5B_E_BUFFER when a buffer is too
 * small (the command stays in the inbox; *_len say the sizes needed).
 */
MT5B_API int32_t MT5B_CALL mt5b_poll_command(int64_t h, uint8_t *id, int32_t id_cap, int32_t *id_len, uint8_t *type,
                                             int32_t type_cap, int32_t *type_len, uint8_t *payload_json,
                                             int32_t payload_cap, int32_t *payload_len, int64_t *expires_at);

MT5B_API int64_t MT5B_CALL mt5b_command_ack(int64_t h, const uint8_t *id, int32_t id_len, int32_t status,
                                            const uint8_t *reason, int32_t reason_len);

/*
 * `result_json` is a JSON object (or empty for none); it travels as a MessagePack map (at most 8
 * levels and 1000 values, as docs/PROTOCOL.md 2.5 allows; MT5B_E_ARG otherwise).
 */
MT5B_API int64_t MT5B_CALL mt5b_command_result(int64_t h, const uint8_t *id, int32_t id_len, int32_t ok,
                                               const uint8_t *result_json, int32_t result_len,
                                               const uint8_t *error, int32_t error_len);

/*
 * The engine's clock (Unix ms, UTC) as this handle estimates it: local UTC time plus the offset
 * measured at welcome and at each ping. 0 before the first welcome. Compare a command's expires_at
 * with it (docs/PROTOCOL.md 4.2): a command past it must be acknowledged MT5B_ACK_EXPIRED.
 */
MT5B_API int64_t MT5B_CALL mt5b_engine_time(int64_t h);

/* Copies up to `n` counters (MT5B_STAT_*) into `out`; returns how many were written. */
MT5B_API int32_t MT5B_CALL mt5b_stats(int64_t h, int64_t *out, int32_t n);

/* The last error as text (UTF-8); returns the length written, or MT5B_E_BUFFER. */
MT5B_API int32_t MT5B_CALL mt5b_last_error(int64_t h, uint8_t *out, int32_t cap);

/*
 * Sends goodbye when connected and frees the handle. Waits at most `timeout_ms` for
 * acknowledgements of what is queued (0: do not wait), then up to 0.5 s more for the WebSocket
 * close handshake. Unacknowledged data is lost with the handle: call after the EA has stopped
 * producing. The I/O thread ends with the last handle; call this from OnDeinit of every EA, since
 * the library does nothing at unload (nothing runs in DllMain).
 */
MT5B_API int32_t MT5B_CALL mt5b_close(int64_t h, int32_t timeout_ms);

#ifdef __cplusplus
}
#endif

#endif
