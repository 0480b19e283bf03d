//+------------------------------------------------------------------+
//| MT5EngineBridge.mq5: the example EA of mt5-engine's native bridge |
//|                                                                  |
//| Streams every tick of the configured symbols, their recent bars,  |
//| the deal history, order events, positions and account snapshots  |
//| and heartbeats into mt5-engine through mt5bridge.dll, and carries |
//| out the engine's commands (pause, resume, close_all,              |
//| close_positions, set_risk). SendSignal() reports the signals of   |
//| the strategy you put into RunStrategy().                          |
//|                                                                  |
//| Nothing here waits on the network: the DLL queues and sends on    |
//| its own thread. What must survive a re-initialisation (executed  |
//| command ids, the deal cursor, pause and risk settings, tick       |
//| cursors) is kept in MQL5\Files\MT5EngineBridge\<instance>.state.  |
//|                                                                  |
//| Installation and troubleshooting: native-bridge/README.md.        |
//+------------------------------------------------------------------+
#property copyright "mt5-engine"
#property version   "1.00"
#property description "Streams ticks, deals, positions, account snapshots and heartbeats into mt5-engine"
#property description "and carries out its commands. Needs mt5bridge.dll and 'Allow DLL imports'."

#include <Trade\Trade.mqh>
#include <MT5Bridge\Bridge.mqh>

//--- inputs
input group "Engine"
input string InpEngineUrl           = "ws://127.0.0.1:8787/v1"; // Engine URL (ws://host:port/v1)
input string InpToken               = "";     // EA token (mt5-engine token create --role ea)
input string InpInstanceId          = "";     // Instance id (empty: mt5-<login>-<chart id>-<magic>)
input group "Streaming"
input string InpSymbols             = "";     // Symbols, comma separated (empty: the chart symbol)
input int    InpTimerMs             = 100;    // Timer period, ms
input int    InpSnapshotSeconds     = 10;     // Positions and account snapshot period, s
input int    InpHeartbeatSeconds    = 5;      // ea_status heartbeat period, s
input int    InpHistoryDays         = 30;     // Deal history sent on the first run, days (0: all)
input int    InpTickBackfillMinutes = 10;     // After a restart, resend ticks missed up to this long ago, min
input int    InpHistoryBars         = 500;    // Closed bars of the chart timeframe sent per symbol at start (0: none)
input int    InpTickRing            = 0;      // Bridge tick ring size (power of two; 0: 65536)
input int    InpCloseTimeoutMs      = 1000;   // OnDeinit: wait this long for the engine's acks, ms (0 .. 1500)
input group "Trading"
input long   InpMagic               = 0;      // Magic number (announced to the engine; targets commands)
input string InpStrategy            = "";     // Strategy tag (announced to the engine; the strategy of signals)
input int    InpDeviationPoints     = 20;     // Slippage allowed when closing positions, points
input group "Risk defaults (set_risk overrides them)"
input double InpRiskPercent         = 1.0;    // Risk per trade, % of balance
input double InpMaxLots             = 1.0;    // Largest position, lots
input int    InpMaxPositions        = 5;      // Most positions open at once
input double InpMaxDailyLoss        = 0.0;    // Daily loss limit, account currency (0: none)

//--- constants
#define EA_VERSION             "1.00"
#define STATE_FOLDER           "MT5EngineBridge"
#define STATE_MAGIC            0x4D543542   // "MT5B"
#define STATE_VERSION          2            // 2: tick cursors are the acknowledged ones, with their count
#define DEAL_LOOKBACK_S        60           // history re-read before the deal cursor: deals can land late
#define RECENT_DEALS           1024         // tickets already queued on this handle, skipped by re-reads
#define MAX_PENDING_DEAL_SEQS  1000
#define MAX_COMMAND_IDS        512
#define COMMAND_ID_KEEP_S      172800       // 2 days: the protocol asks for at least the longest expiry (1 day)
#define COMMANDS_PER_PASS      8
#define MAX_PENDING_LOGS       64
#define MAX_SNAPSHOT_POSITIONS 10000        // the protocol's limit per positions_snapshot
#define V1_RESUME_REWIND_MS    5000         // a version 1 state file's cursors: the old rewind, once
#define OPEN_RETRY_S           10
#define REPORT_EVERY_MS        60000        // the same failure is logged at most this often
#define MAX_REPORT_KEYS        32
//--- MT5 ends OnDeinit after about 2.5 s. Close waits up to InpCloseTimeoutMs for acks plus up to
//--- 0.5 s for the WebSocket close, and the ticks, heartbeat and state file come before it.
#define MAX_CLOSE_TIMEOUT_MS   1500
#define STATE_SAVE_EVERY_MS    5000         // acks move the cursors often: the file is rewritten at most this often
#define MAX_SYMBOL_BYTES       64           // the protocol's limit (UTF-8 bytes)
#define MAX_HISTORY_BARS       100000       // InpHistoryBars' ceiling: 20 bar_batch messages per symbol

#define JSON_STRING 0
#define JSON_NUMBER 1
#define JSON_BOOL   2
#define JSON_NULL   3
#define JSON_NESTED 4

//+------------------------------------------------------------------+
//| Per-symbol tick cursor: the newest tick handed to the bridge and |
//| how many ticks of that millisecond were handed over, so that the |
//| next CopyTicksRange from that millisecond skips exactly those.   |
//+------------------------------------------------------------------+
struct SymbolCursor
  {
   string            name;
   long              last_msc;    // 0: not started
   int               at_last;
   long              acked_msc;   // the newest tick the engine acknowledged (0: none): saved, resumed from
   int               acked_count; // ticks of acked_msc up to and including it
   bool              caught_up;   // false until a timer pass copied up to now
   bool              spec_sent;
   bool              bars_sent;   // InpHistoryBars handed to this handle
  };

//--- close_positions payload filter
struct CloseFilter
  {
   bool              by_symbol;
   string            symbol;
   bool              by_magic;
   long              magic;
   int               side;        // -1 any, else POSITION_TYPE_BUY / POSITION_TYPE_SELL
  };

//+------------------------------------------------------------------+
//| A flat JSON object reader for command payloads: top-level keys    |
//| with string, number, bool and null values; nested objects and     |
//| arrays are kept as raw text. The DLL writes the JSON from a       |
//| MessagePack map, so the input is well-formed; this stays strict   |
//| anyway and says where it failed.                                  |
//+------------------------------------------------------------------+
class CJsonObject
  {
private:
   string            m_keys[];
   string            m_values[];
   int               m_kinds[];
   string            m_text;
   int               m_pos;
   int               m_len;

   ushort            Peek(void) const { return m_pos < m_len ? StringGetCharacter(m_text, m_pos) : (ushort)0; }
   void              SkipSpace(void);
   bool              ReadString(string &out);
   bool              ReadHex4(int &code);
   bool              ReadLiteral(const string word);
   bool              ReadNumber(string &out);
   bool              SkipNested(void);
   bool              ReadValue(string &value, int &kind);
   void              Add(const string key, const string value, const int kind);

public:
                     CJsonObject(void) : m_pos(0), m_len(0) {}
   bool              Parse(const string text, string &error);
   int               Count(void) const { return ArraySize(m_keys); }
   string            Key(const int i) const { return m_keys[i]; }
   int               Find(const string key) const;
   bool              Has(const string key) const { return Find(key) >= 0; }
   bool              GetString(const string key, string &out) const;
   bool              GetDouble(const string key, double &out) const;
   bool              GetLong(const string key, long &out) const;
  };

//--- globals
CMT5Bridge   g_bridge;
CTrade       g_trade;
SymbolCursor g_cursors[];
MqlTick      g_ticks[];
MqlRates     g_rates[];
long         g_stats[];
bool         g_ready = false;          // instance id known, state loaded
bool         g_stopping = false;
string       g_instanceId = "";
string       g_statePath = "";
bool         g_stateDirty = false;     // cursors moved since the state file was written
ulong        g_stateSavedAt = 0;
datetime     g_nextOpenAttempt = 0;
string       g_lastOpenError = "";

//--- set by commands, persisted
bool         g_paused = false;
double       g_riskPercent = 0;
double       g_maxLots = 0;
int          g_maxPositions = 0;
double       g_maxDailyLoss = 0;

//--- deals: g_dealSafeMsc (persisted) is the time before which the engine acknowledged every deal;
//--- g_dealReadFromMsc is where this handle's next history read starts
long         g_dealSafeMsc = 0;
long         g_dealReadFromMsc = 0;
bool         g_dealsDirty = true;
ulong        g_recentDeals[];
int          g_recentDealsNext = 0;
int          g_recentDealsCount = 0;
long         g_pendingDealSeq[];       // (seq, newest deal time) of each history pass, until acked
long         g_pendingDealMsc[];

//--- connection watch (mt5b_stats)
bool         g_everConnected = false;
bool         g_wasConnected = false;
long         g_resyncReconnects = -1;
long         g_lastDropped = 0;
long         g_lastEngineError = 0;

//--- snapshots and heartbeats
bool         g_positionsDirty = true;
bool         g_accountDirty = true;
bool         g_statusDue = true;
ulong        g_nextSnapshotAt = 0;
ulong        g_nextHeartbeatAt = 0;
string       g_problem = "";           // reported in the next heartbeat (state "error")
int          g_lastMqlError = 0;
string       g_reportKeys[];           // ShouldReport: when each failure was last logged
ulong        g_reportAt[];

//--- executed command ids (persisted) and the two retry slots for MT5B_E_FULL
string       g_cmdIds[];
long         g_cmdSeenAt[];
bool         g_defActive = false;      // a command whose ack could not be queued yet: not run
string       g_defId = "";
string       g_defType = "";
string       g_defPayload = "";
long         g_defExpires = 0;
bool         g_resActive = false;      // a result that could not be queued yet
string       g_resId = "";
bool         g_resOk = false;
string       g_resJson = "";
string       g_resError = "";

//--- log messages waiting for the bridge
int          g_logLevels[];
long         g_logTimes[];
string       g_logTexts[];
int          g_logsDropped = 0;

//--- tick cursors read from the state file, applied to matching symbols
string       g_savedSymbols[];
long         g_savedMsc[];
int          g_savedCount[];               // -1: from a version 1 file (no count)
long         g_savedAt[];

//+------------------------------------------------------------------+
//| Event handlers                                                    |
//+------------------------------------------------------------------+
int OnInit()
  {
   if(MQLInfoInteger(MQL_TESTER) != 0)
     {
      Print("MT5EngineBridge streams live data into mt5-engine: it does not run in the Strategy Tester");
      return INIT_FAILED;
     }
   if(MQLInfoInteger(MQL_DLLS_ALLOWED) == 0)
     {
      Print("DLL imports are not allowed: enable Tools > Options > Expert Advisors > Allow DLL imports, ",
            "and 'Allow DLL imports' on this EA's Common tab");
      return INIT_FAILED;
     }
   ResetGlobals();
   if(!CheckInputs())
      return INIT_PARAMETERS_INCORRECT;
   if(!InitSymbols())
      return INIT_PARAMETERS_INCORRECT;

   g_trade.SetExpertMagicNumber((ulong)InpMagic);
   g_trade.SetDeviationInPoints((ulong)InpDeviationPoints);
   g_trade.LogLevel(LOG_LEVEL_ERRORS);

   Print("mt5bridge.dll ", CMT5Bridge::Version(), ", engine ", InpEngineUrl);
   if(TrySetup())
      OpenBridgeIfDue();
   if(!EventSetMillisecondTimer(InpTimerMs))
     {
      Print("cannot start a ", InpTimerMs, " ms timer: error ", GetLastError());
      return INIT_FAILED;
     }
   return INIT_SUCCEEDED;
  }

//+------------------------------------------------------------------+
void OnDeinit(const int reason)
  {
   EventKillTimer();
   g_stopping = true;
   if(g_bridge.IsOpen())
     {
      PumpTicks(false);
      g_bridge.Status(ServerNowMsc(), MT5B_STATE_STOPPING, TerminalTradeAllowed(), EaTradeAllowed(),
                      TerminalConnected(), g_lastMqlError, "OnDeinit: " + DeinitReasonText(reason));
      FlushLogs();
     }
   //--- the state first: if the terminal cuts OnDeinit short during Close, the cursors and
   //--- command ids are on disk already
   if(g_ready)
     {
      if(g_bridge.IsOpen())
         TrackAckedTicks();
      SaveState();
     }
   if(g_bridge.IsOpen())
     {
      //--- short: the terminal gives OnDeinit little time, and what is not acknowledged is
      //--- re-read from history (deals) or resent from the acknowledged tick cursor next time
      g_bridge.Close(InpCloseTimeoutMs);
     }
  }

//+------------------------------------------------------------------+
//| OnTick only sees the chart symbol and merges ticks that arrive    |
//| while it runs, so it merely hurries the cursors along; the timer  |
//| covers the other symbols and the quiet chart.                     |
//+------------------------------------------------------------------+
void OnTick()
  {
   PumpTicks(false);
   if(g_ready && !g_paused)
      RunStrategy();
  }

//+------------------------------------------------------------------+
void OnTimer()
  {
   if(!TrySetup())
      return;
   if(!OpenBridgeIfDue())
      return;
   WatchBridge();
   PumpTicks(true);
   ScheduleSnapshots();
   if(g_dealsDirty)
      SyncDeals();
   if(g_positionsDirty && SendPositions())
      g_positionsDirty = false;
   if(g_accountDirty && SendAccount())
      g_accountDirty = false;
   ProcessCommands();
   SendHeartbeatIfDue();
   FlushLogs();
   SaveStateIfDue();
  }

//+------------------------------------------------------------------+
//| Transactions arrive in no guaranteed order and their queue can    |
//| overflow: each one is only a prompt to re-read the history.       |
//+------------------------------------------------------------------+
void OnTradeTransaction(const MqlTradeTransaction &trans, const MqlTradeRequest &request,
                        const MqlTradeResult &result)
  {
   g_dealsDirty = true;
   g_positionsDirty = true;
   g_accountDirty = true;
   if(!g_ready || !g_bridge.IsOpen())
      return;
   SendOrderEvent(trans);
   if(trans.type == TRADE_TRANSACTION_DEAL_ADD)
      SyncDeals();
  }

//+------------------------------------------------------------------+
//| Where a trading EA runs its own logic. It runs only while the     |
//| engine has not paused the EA; g_riskPercent, g_maxLots,           |
//| g_maxPositions and g_maxDailyLoss hold the current set_risk values.|
//+------------------------------------------------------------------+
void RunStrategy()
  {
   //--- for example, once the strategy decides:
   //---   SendSignal("buy", 0.82, "EMA20 crossed above EMA50",
   //---              "{\"ema_fast\":1.05101,\"ema_slow\":1.0507}", "");
  }

//+------------------------------------------------------------------+
//| Reports a signal of the chart symbol: signal_type "buy", "sell",  |
//| "close" or "hold"; confidence 0 .. 1 (< 0: none); metadata_json   |
//| a JSON object of indicator values and reasoning, or "". Give a    |
//| signal_id of your own to have a signal sent twice (after a        |
//| re-initialisation) stored once. The price: the ask for a buy, the |
//| bid otherwise (the chart's price). Returns the seq or MT5B_E_*.   |
//+------------------------------------------------------------------+
long SendSignal(const string signal_type, const double confidence, const string reason,
                const string metadata_json, const string signal_id)
  {
   if(!g_bridge.IsOpen())
      return MT5B_E_HANDLE;
   double price = (signal_type == "buy") ? SymbolInfoDouble(_Symbol, SYMBOL_ASK)
                                         : SymbolInfoDouble(_Symbol, SYMBOL_BID);
   long seq = g_bridge.Signal(ServerNowMsc(), _Symbol, signal_type, price, confidence, InpStrategy,
                              TimeframeName(), reason, metadata_json, signal_id);
   if(seq < 0)
      BridgeFailed("signal " + signal_type, seq);
   return seq;
  }

//+------------------------------------------------------------------+
//| Setup                                                             |
//+------------------------------------------------------------------+
//| An EA is not reloaded when the chart's symbol or timeframe or its |
//| inputs change: OnDeinit and OnInit run, and global variables keep |
//| their values. Everything starts afresh here; what must survive is |
//| in the state file.                                                |
//+------------------------------------------------------------------+
void ResetGlobals()
  {
   g_ready = false;
   g_stateDirty = false;
   g_stateSavedAt = 0;
   g_stopping = false;
   g_instanceId = "";
   g_statePath = "";
   g_nextOpenAttempt = 0;
   g_lastOpenError = "";
   g_paused = false;
   g_dealSafeMsc = 0;
   g_dealReadFromMsc = 0;
   g_dealsDirty = true;
   ArrayResize(g_recentDeals, RECENT_DEALS);
   g_recentDealsNext = 0;
   g_recentDealsCount = 0;
   ArrayResize(g_pendingDealSeq, 0);
   ArrayResize(g_pendingDealMsc, 0);
   g_everConnected = false;
   g_wasConnected = false;
   g_resyncReconnects = -1;
   g_lastDropped = 0;
   g_lastEngineError = 0;
   g_positionsDirty = true;
   g_accountDirty = true;
   g_statusDue = true;
   g_nextSnapshotAt = 0;
   g_nextHeartbeatAt = 0;
   g_problem = "";
   g_lastMqlError = 0;
   ArrayResize(g_reportKeys, 0);
   ArrayResize(g_reportAt, 0);
   g_defActive = false;
   g_resActive = false;
   ArrayResize(g_logLevels, 0);
   ArrayResize(g_logTimes, 0);
   ArrayResize(g_logTexts, 0);
   g_logsDropped = 0;
   ArrayResize(g_savedSymbols, 0);
   ArrayResize(g_savedMsc, 0);
   ArrayResize(g_savedCount, 0);
   ArrayResize(g_savedAt, 0);
  }

//+------------------------------------------------------------------+
bool CheckInputs()
  {
   uchar buf[];
   if(StringLen(InpToken) == 0)
     {
      Print("InpToken is empty: make one with  npx mt5-engine token create --role ea --name my-ea  (the last line it prints)");
      return false;
     }
   if(CMT5Bridge::Utf8(InpToken, buf, -1) > 256)
     {
      Print("InpToken is longer than 256 bytes: paste only the token, the last line of 'token create'");
      return false;
     }
   if(CMT5Bridge::Utf8(_Symbol, buf, -1) > MAX_SYMBOL_BYTES)
     {
      Print("the chart symbol '", _Symbol, "' is longer than ", MAX_SYMBOL_BYTES, " bytes of UTF-8, the protocol's limit");
      return false;
     }
   if(StringFind(InpEngineUrl, "wss://") == 0)
     {
      Print("wss:// is not supported by the bridge yet: run the engine on this machine, or reach it through an SSH tunnel on ws://127.0.0.1");
      return false;
     }
   if(StringFind(InpEngineUrl, "ws://") != 0)
     {
      Print("InpEngineUrl must look like ws://127.0.0.1:8787/v1; got '", InpEngineUrl, "'");
      return false;
     }
   if(CMT5Bridge::Utf8(InpInstanceId, buf, -1) > 128)
     {
      Print("InpInstanceId is longer than 128 bytes");
      return false;
     }
   if(InpTimerMs < 10 || InpTimerMs > 60000 || InpSnapshotSeconds < 1 || InpHeartbeatSeconds < 1)
     {
      Print("InpTimerMs must be 10 .. 60000; InpSnapshotSeconds and InpHeartbeatSeconds at least 1");
      return false;
     }
   if(InpTickRing != 0 && (InpTickRing < 1024 || (InpTickRing & (InpTickRing - 1)) != 0))
     {
      Print("InpTickRing must be 0 (the default, 65536) or a power of two of at least 1024");
      return false;
     }
   if(InpHistoryDays < 0 || InpTickBackfillMinutes < 0 || InpCloseTimeoutMs < 0 ||
      InpCloseTimeoutMs > MAX_CLOSE_TIMEOUT_MS || InpDeviationPoints < 0)
     {
      Print("InpHistoryDays, InpTickBackfillMinutes and InpDeviationPoints must be >= 0; InpCloseTimeoutMs 0 .. ",
            MAX_CLOSE_TIMEOUT_MS, " (MT5 ends OnDeinit after about 2.5 s)");
      return false;
     }
   if(InpHistoryBars < 0 || InpHistoryBars > MAX_HISTORY_BARS)
     {
      Print("InpHistoryBars must be 0 .. ", MAX_HISTORY_BARS);
      return false;
     }
   if(CMT5Bridge::Utf8(InpStrategy, buf, -1) > 128)
     {
      Print("InpStrategy is longer than 128 bytes");
      return false;
     }
   if(InpRiskPercent < 0 || InpRiskPercent > 100 || InpMaxLots < 0 || InpMaxPositions < 0 || InpMaxDailyLoss < 0)
     {
      Print("risk defaults: InpRiskPercent must be 0 .. 100, the others >= 0");
      return false;
     }
   return true;
  }

//+------------------------------------------------------------------+
//| Parses InpSymbols and puts each symbol into Market Watch, which   |
//| CopyTicksRange needs for a symbol that is not the chart's.         |
//+------------------------------------------------------------------+
bool InitSymbols()
  {
   string list = InpSymbols;
   StringTrimLeft(list);
   StringTrimRight(list);
   if(list == "")
      list = _Symbol;
   string parts[];
   int n = StringSplit(list, ',', parts);
   ArrayResize(g_cursors, 0);
   for(int i = 0; i < n; i++)
     {
      string name = parts[i];
      StringTrimLeft(name);
      StringTrimRight(name);
      if(name == "" || FindCursor(name) >= 0)
         continue;
      uchar utf8[];
      if(CMT5Bridge::Utf8(name, utf8, -1) > MAX_SYMBOL_BYTES)
        {
         //--- a cut name would stream under another symbol's name: refuse instead
         Print("symbol '", name, "' is longer than ", MAX_SYMBOL_BYTES, " bytes of UTF-8, the protocol's limit: it cannot be streamed");
         return false;
        }
      if(!SymbolSelect(name, true))
        {
         Print("symbol '", name, "' cannot be selected (error ", GetLastError(), "): is it spelled as in Market Watch, suffix included?");
         continue;
        }
      int k = ArraySize(g_cursors);
      ArrayResize(g_cursors, k + 1);
      g_cursors[k].name = name;
      g_cursors[k].last_msc = 0;
      g_cursors[k].at_last = 0;
      g_cursors[k].acked_msc = 0;
      g_cursors[k].acked_count = 0;
      g_cursors[k].caught_up = false;
      g_cursors[k].spec_sent = false;
      g_cursors[k].bars_sent = false;
     }
   if(ArraySize(g_cursors) == 0)
     {
      Print("no symbol to stream: check InpSymbols");
      return false;
     }
   return true;
  }

//+------------------------------------------------------------------+
int FindCursor(const string name)
  {
   for(int i = 0; i < ArraySize(g_cursors); i++)
      if(g_cursors[i].name == name)
         return i;
   return -1;
  }

//+------------------------------------------------------------------+
//| Runs once the terminal knows the account (at terminal start-up    |
//| OnInit can run before the login): the instance id and the state   |
//| file are per account.                                             |
//+------------------------------------------------------------------+
bool TrySetup()
  {
   if(g_ready)
      return true;
   long login = AccountInfoInteger(ACCOUNT_LOGIN);
   string server = AccountInfoString(ACCOUNT_SERVER);
   if(login <= 0 || server == "")
      return false;
   g_instanceId = InpInstanceId != "" ? InpInstanceId : DefaultInstanceId(login);
   FolderCreate(STATE_FOLDER);
   g_statePath = STATE_FOLDER + "\\" + SafeFileName(g_instanceId) + ".state";
   LoadState();
   ApplySavedCursors();
   g_ready = true;
   Note(MT5B_LOG_INFO, "instance " + g_instanceId + ", " + IntegerToString(ArraySize(g_cursors)) + " symbol(s), state " + g_statePath);
   if(g_paused)
      Note(MT5B_LOG_WARN, "paused by an earlier engine command: send 'resume' to trade again");
   return true;
  }

//+------------------------------------------------------------------+
//| The stream's name must stay the same across restarts of this EA   |
//| on this chart: the chart id survives re-initialisation and        |
//| generally terminal restarts too (MQL5 Book, "Chart                |
//| identification"). InpInstanceId pins it for good.                 |
//+------------------------------------------------------------------+
string DefaultInstanceId(const long login)
  {
   return "mt5-" + IntegerToString(login) + "-" + IntegerToString(ChartID()) + "-" + IntegerToString(InpMagic);
  }

//+------------------------------------------------------------------+
string SafeFileName(const string s)
  {
   string out = "";
   int n = StringLen(s);
   for(int i = 0; i < n; i++)
     {
      ushort c = StringGetCharacter(s, i);
      bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                   c == '-' || c == '_' || c == '.';
      out += plain ? ShortToString(c) : "_";
     }
   return out;
  }

//+------------------------------------------------------------------+
//| Opens and starts the bridge handle; retried every OPEN_RETRY_S.   |
//| The handle reconnects by itself afterwards.                       |
//+------------------------------------------------------------------+
bool OpenBridgeIfDue()
  {
   if(g_bridge.IsOpen())
      return true;
   if(TimeLocal() < g_nextOpenAttempt)
      return false;
   g_nextOpenAttempt = TimeLocal() + OPEN_RETRY_S;
   if(!g_bridge.Open(InpEngineUrl, InpToken, g_instanceId))
      return OpenFailed("open");
   bool ok = g_bridge.SetAccount(AccountInfoInteger(ACCOUNT_LOGIN), AccountInfoString(ACCOUNT_SERVER),
                                 AccountInfoString(ACCOUNT_COMPANY), AccountInfoString(ACCOUNT_CURRENCY),
                                 (int)AccountInfoInteger(ACCOUNT_LEVERAGE),
                                 (int)AccountInfoInteger(ACCOUNT_MARGIN_MODE),
                                 (int)AccountInfoInteger(ACCOUNT_TRADE_MODE), ServerUtcOffset());
   if(!ok)
      return OpenFailed("set_account");
   ok = g_bridge.SetEa(MQLInfoString(MQL_PROGRAM_NAME), EA_VERSION, InpMagic, _Symbol, TimeframeName(),
                       (int)TerminalInfoInteger(TERMINAL_BUILD));
   if(!ok)
      return OpenFailed("set_ea");
   if(!g_bridge.SetStrategy(InpStrategy))
      return OpenFailed("set_strategy");
   if(!g_bridge.SetLimits(InpTickRing, 0, 0))
      return OpenFailed("set_limits");
   if(!g_bridge.Start())
      return OpenFailed("start");

   //--- a new handle: nothing of the previous one is queued any more
   g_lastOpenError = "";
   g_everConnected = false;
   g_wasConnected = false;
   g_resyncReconnects = -1;
   g_lastDropped = 0;
   g_lastEngineError = 0;
   ArrayResize(g_pendingDealSeq, 0);
   ArrayResize(g_pendingDealMsc, 0);
   StartDealResync();
   for(int i = 0; i < ArraySize(g_cursors); i++)
     {
      g_cursors[i].spec_sent = false;
      g_cursors[i].bars_sent = false;
     }
   g_positionsDirty = true;
   g_accountDirty = true;
   g_statusDue = true;
   Note(MT5B_LOG_INFO, "bridge " + CMT5Bridge::Version() + " started for " + InpEngineUrl + " as " + g_instanceId);
   return true;
  }

//+------------------------------------------------------------------+
bool OpenFailed(const string step)
  {
   string text = "bridge " + step + " failed: " + g_bridge.LastCallText();
   string library = g_bridge.LibraryError();
   if(library != "")
      text += " (" + library + ")";
   g_bridge.Close(0);
   if(text != g_lastOpenError)
      Print(text, "; retrying every ", OPEN_RETRY_S, " s");
   g_lastOpenError = text;
   return false;
  }

//+------------------------------------------------------------------+
//| TimeTradeServer() is an estimate that can be seconds off: round   |
//| to the quarter hour, the granularity of every time zone.          |
//+------------------------------------------------------------------+
int ServerUtcOffset()
  {
   long diff = (long)TimeTradeServer() - (long)TimeGMT();
   long quarter = (long)MathRound((double)diff / 900.0) * 900;
   if(quarter < -43200 || quarter > 50400)
      return 0;
   return (int)quarter;
  }

//+------------------------------------------------------------------+
string TimeframeName()
  {
   string name = EnumToString(Period());
   StringReplace(name, "PERIOD_", "");
   return name;
  }

//+------------------------------------------------------------------+
//| Clocks                                                            |
//+------------------------------------------------------------------+
//| Server time in ms for snapshots, heartbeats and logs. MQL5 has it |
//| in whole seconds only; the milliseconds come from the tick counter|
//| since the second was first seen. Strictly increasing, because the |
//| engine keys snapshots and heartbeats by time (two in the same ms  |
//| would be one) and closes the positions a newer snapshot omits.    |
//+------------------------------------------------------------------+
long ServerNowMsc()
  {
   static long  last_sec = 0;
   static ulong anchor_tick = 0;
   static long  last_msc = 0;
   long  sec = (long)TimeTradeServer();
   ulong tick = GetTickCount64();
   if(sec != last_sec)
     {
      last_sec = sec;
      anchor_tick = tick;
     }
   long ms = (long)(tick - anchor_tick);
   if(ms > 999)
      ms = 999;
   long now = sec * 1000 + ms;
   if(now <= last_msc)
      now = last_msc + 1;
   last_msc = now;
   return now;
  }

//+------------------------------------------------------------------+
//| The engine's clock, for command expiry: the bridge estimates it   |
//| from the engine's server_time at welcome and at each ping. Before |
//| the first welcome it is 0; then this computer's clock stands in,  |
//| taking the end of the second (TimeGMT() has whole seconds), so    |
//| that a doubtful command is refused rather than run late.          |
//+------------------------------------------------------------------+
long EngineNowMsc()
  {
   long engine = g_bridge.EngineTime();
   if(engine > 0)
      return engine;
   return (long)TimeGMT() * 1000 + 999;
  }

//+------------------------------------------------------------------+
//| Connection watch                                                  |
//+------------------------------------------------------------------+
//| After every (re)connection the deal history is re-read from the   |
//| last acknowledged point: the engine deduplicates by ticket, and   |
//| the broker's history is the durable log.                          |
//+------------------------------------------------------------------+
void WatchBridge()
  {
   if(!g_bridge.Stats(g_stats))
     {
      BridgeFailed("stats", g_bridge.LastResult());
      return;
     }
   bool connected = g_stats[MT5B_STAT_CONNECTED] != 0;
   long reconnects = g_stats[MT5B_STAT_RECONNECTS];
   //--- RECONNECTS also catches a drop and reconnect between two timer passes
   if(connected && (!g_wasConnected || reconnects != g_resyncReconnects))
     {
      g_everConnected = true;
      g_resyncReconnects = reconnects;
      Note(MT5B_LOG_INFO, "connected to the engine; re-reading deals since " +
           TimeToString((datetime)(g_dealSafeMsc / 1000), TIME_DATE | TIME_SECONDS));
      StartDealResync();
      g_positionsDirty = true;
      g_accountDirty = true;
      g_statusDue = true;
     }
   if(!connected && g_wasConnected)
      Print("disconnected from the engine: ", g_bridge.LibraryError(), "; the bridge reconnects by itself");
   g_wasConnected = connected;
   WatchEngineError(g_stats[MT5B_STAT_LAST_ERROR]);
   WatchDroppedTicks(g_stats[MT5B_STAT_TICKS_DROPPED]);
   CommitAckedDeals(g_stats[MT5B_STAT_ACKED_SEQ]);
   TrackAckedTicks();
  }

//+------------------------------------------------------------------+
void WatchEngineError(const long code)
  {
   if(code == g_lastEngineError)
      return;
   g_lastEngineError = code;
   if(code == 0)
      return;
   string text = "engine/network error " + IntegerToString(code) + ": " + g_bridge.LibraryError();
   string hint = EngineErrorHint(code);
   if(hint != "")
      text += " -- " + hint;
   Print(text);
   g_problem = text;
  }

//+------------------------------------------------------------------+
//| Close codes that need the user (docs/PROTOCOL.md section 7).      |
//+------------------------------------------------------------------+
string EngineErrorHint(const long code)
  {
   switch((int)code)
     {
      case 4001: return "AUTH_FAILED: the token is unknown, revoked or expired; make a new one with 'mt5-engine token create --role ea'";
      case 4003: return "FORBIDDEN: this token may not open an EA session (a viewer token?); use an ea or admin token";
      case 4004: return "UNSUPPORTED_PROTOCOL: the engine and the bridge speak different protocol versions; update one of them";
      case 4008: return "RATE_LIMITED: too many frames per second";
      case 4009: return "REPLACED: another connection uses this instance id; give each EA its own InpInstanceId or magic";
      case 4010: return "STORAGE_FAILED: the engine's database refused a batch; see the engine's log";
      case 1009: return "FRAME_TOO_LARGE";
     }
   return "";
  }

//+------------------------------------------------------------------+
void WatchDroppedTicks(const long dropped)
  {
   if(dropped <= g_lastDropped)
      return;
   if(ShouldReport("ticks_dropped"))
      Note(MT5B_LOG_WARN, IntegerToString(dropped - g_lastDropped) + " ticks dropped by the bridge's ring (" +
           IntegerToString(dropped) + " since start): the engine is down or slow, or InpTickRing is too small");
   g_lastDropped = dropped;
  }

//+------------------------------------------------------------------+
//| Ticks                                                             |
//+------------------------------------------------------------------+
void PumpTicks(const bool from_timer)
  {
   if(!g_ready || !g_bridge.IsOpen())
      return;
   for(int i = 0; i < ArraySize(g_cursors); i++)
      PumpSymbol(i, from_timer);
  }

//+------------------------------------------------------------------+
//| Hands the ticks after the cursor to the bridge. Catching up from  |
//| an older cursor may wait for tick history to load, so it happens  |
//| on the timer only: OnTick never waits.                            |
//+------------------------------------------------------------------+
void PumpSymbol(const int i, const bool from_timer)
  {
   string symbol = g_cursors[i].name;
   if(from_timer && !g_cursors[i].spec_sent)
      SendSymbolSpec(i);
   if(from_timer && g_cursors[i].spec_sent && !g_cursors[i].bars_sent)
      SendHistoryBars(i);
   if(!from_timer && !g_cursors[i].caught_up)
      return;
   if(g_cursors[i].last_msc <= 0)
     {
      if(from_timer)
         StartCursorAtLatest(i);
      return;
     }
   long from = g_cursors[i].last_msc;
   int n = CopyTicksRange(symbol, g_ticks, COPY_TICKS_ALL, (ulong)from, 0);
   if(n < 0)
     {
      NoteMqlError("CopyTicksRange " + symbol);
      return;
     }
   if(from_timer)
      g_cursors[i].caught_up = true;
   if(n == 0)
      return;

   //--- skip what was handed over before: older ticks (defensive) and the ones at `from` already sent
   int k = 0;
   while(k < n && g_ticks[k].time_msc < from)
      k++;
   int at_from = 0;
   while(k < n && at_from < g_cursors[i].at_last && g_ticks[k].time_msc == from)
     {
      k++;
      at_from++;
     }
   if(k >= n)
      return;
   int first_index = (g_ticks[k].time_msc == from) ? at_from : 0;

   int rc = g_bridge.Ticks(symbol, g_ticks, k, n - k, first_index);
   if(rc < 0)
     {
      BridgeFailed("ticks " + symbol, rc);   // the cursor stays: retried next pass
      return;
     }
   long newest = g_ticks[n - 1].time_msc;
   int count = 0;
   for(int j = n - 1; j >= 0 && g_ticks[j].time_msc == newest; j--)
      count++;
   g_cursors[i].last_msc = newest;
   g_cursors[i].at_last = count;
  }

//+------------------------------------------------------------------+
//| A new cursor starts after the current quote (history before the   |
//| EA started is not streamed).                                      |
//+------------------------------------------------------------------+
void StartCursorAtLatest(const int i)
  {
   string symbol = g_cursors[i].name;
   MqlTick latest;
   if(!SymbolInfoTick(symbol, latest) || latest.time_msc <= 0)
      return;                                   // no quote yet: retried next pass
   int n = CopyTicksRange(symbol, g_ticks, COPY_TICKS_ALL, (ulong)latest.time_msc, (ulong)latest.time_msc);
   if(n < 0)
     {
      NoteMqlError("CopyTicksRange " + symbol);
      return;
     }
   g_cursors[i].last_msc = latest.time_msc;
   g_cursors[i].at_last = n;
   g_cursors[i].caught_up = true;
  }

//+------------------------------------------------------------------+
//| A saved cursor is resumed exactly, if it is recent enough. It is  |
//| the newest tick the engine acknowledged (mt5b_tick_cursor), so    |
//| every tick up to it is stored: the next CopyTicksRange starts at  |
//| its millisecond and skips the `count` ticks of it already sent,   |
//| and nothing older is sent again. This relies on the terminal      |
//| returning the ticks of that one millisecond in the same order;    |
//| rewinding further would rely on it for every millisecond resent,  |
//| which a terminal that re-downloaded its history does not keep.    |
//+------------------------------------------------------------------+
void ApplySavedCursors()
  {
   long now = (long)TimeGMT();
   for(int s = 0; s < ArraySize(g_savedSymbols); s++)
     {
      int i = FindCursor(g_savedSymbols[s]);
      if(i < 0 || g_savedMsc[s] <= 0 || (g_savedCount[s] < 0 && g_savedMsc[s] <= V1_RESUME_REWIND_MS))
         continue;
      if(now - g_savedAt[s] > (long)InpTickBackfillMinutes * 60)
        {
         Note(MT5B_LOG_WARN, g_savedSymbols[s] + ": stopped too long ago to backfill; ticks since " +
              TimeToString((datetime)(g_savedMsc[s] / 1000), TIME_DATE | TIME_SECONDS) + " are not sent");
         continue;
        }
      if(g_savedCount[s] < 0)
        {
         //--- a version 1 file saved what was handed to the bridge, not what was acknowledged
         g_cursors[i].last_msc = g_savedMsc[s] - V1_RESUME_REWIND_MS;
         g_cursors[i].at_last = 0;
        }
      else
        {
         g_cursors[i].last_msc = g_savedMsc[s];
         g_cursors[i].at_last = g_savedCount[s];
         g_cursors[i].acked_msc = g_savedMsc[s];
         g_cursors[i].acked_count = g_savedCount[s];
        }
      g_cursors[i].caught_up = false;
     }
  }

//+------------------------------------------------------------------+
//| Follows the bridge's acknowledged cursor of each symbol; the      |
//| state file gets it at the next throttled save.                    |
//+------------------------------------------------------------------+
void TrackAckedTicks()
  {
   for(int i = 0; i < ArraySize(g_cursors); i++)
     {
      long msc = 0;
      int count = 0;
      int rc = g_bridge.TickCursor(g_cursors[i].name, msc, count);
      if(rc < 0)
        {
         BridgeFailed("tick cursor " + g_cursors[i].name, rc);
         continue;
        }
      if(rc == 0 || (msc == g_cursors[i].acked_msc && count == g_cursors[i].acked_count))
         continue;
      g_cursors[i].acked_msc = msc;
      g_cursors[i].acked_count = count;
      SaveStateSoon();
     }
  }

//+------------------------------------------------------------------+
void SendSymbolSpec(const int i)
  {
   string s = g_cursors[i].name;
   double point = SymbolInfoDouble(s, SYMBOL_POINT);
   if(point <= 0)
      return;                                   // not loaded yet: retried next pass
   long seq = g_bridge.SymbolSpec(s, (int)SymbolInfoInteger(s, SYMBOL_DIGITS), point,
                                  SymbolInfoDouble(s, SYMBOL_TRADE_CONTRACT_SIZE),
                                  SymbolInfoDouble(s, SYMBOL_TRADE_TICK_SIZE),
                                  SymbolInfoDouble(s, SYMBOL_TRADE_TICK_VALUE),
                                  SymbolInfoDouble(s, SYMBOL_VOLUME_MIN),
                                  SymbolInfoDouble(s, SYMBOL_VOLUME_MAX),
                                  SymbolInfoDouble(s, SYMBOL_VOLUME_STEP),
                                  ChartMode(s));
   if(seq == MT5B_E_FULL)
      return;                                   // retried next pass
   if(seq < 0)
      BridgeFailed("symbol_spec " + s, seq);    // would fail the same way again: not retried
   g_cursors[i].spec_sent = true;
  }

//+------------------------------------------------------------------+
//| The price the terminal builds the symbol's bars from: Bid for FX  |
//| and CFDs, Last for exchange symbols. A value the bridge does not  |
//| know (a later terminal's) is left out rather than refused.        |
//+------------------------------------------------------------------+
int ChartMode(const string symbol)
  {
   long mode = SymbolInfoInteger(symbol, SYMBOL_CHART_MODE);
   if(mode == SYMBOL_CHART_MODE_BID)
      return 0;
   if(mode == SYMBOL_CHART_MODE_LAST)
      return 1;
   return MT5B_CHART_MODE_UNSET;
  }

//+------------------------------------------------------------------+
//| The last InpHistoryBars closed bars of the chart timeframe, so    |
//| that the engine has history from the first minute. Start position |
//| 1 leaves out the bar still forming: it would be stored half-built.|
//| CopyRates fails while the terminal loads history: retried on the  |
//| next timer pass. Resending (a new handle) is harmless: the engine |
//| keys bars by open time.                                           |
//+------------------------------------------------------------------+
void SendHistoryBars(const int i)
  {
   string s = g_cursors[i].name;
   if(InpHistoryBars <= 0)
     {
      g_cursors[i].bars_sent = true;
      return;
     }
   int n = CopyRates(s, Period(), 1, InpHistoryBars, g_rates);
   if(n < 0)
     {
      NoteMqlError("CopyRates " + s);
      return;
     }
   if(n > 0)
     {
      long seq = g_bridge.Bars(s, TimeframeName(), g_rates, 0, n);
      if(seq == MT5B_E_FULL)
         return;                                // retried next pass
      if(seq < 0)
         BridgeFailed("bar_batch " + s, seq);   // a bar MT5B_E_ARG refuses stays refused: not retried
     }
   g_cursors[i].bars_sent = true;
  }

//+------------------------------------------------------------------+
//| Deals                                                             |
//+------------------------------------------------------------------+
void StartDealResync()
  {
   g_dealReadFromMsc = g_dealSafeMsc;
   g_recentDealsCount = 0;
   g_recentDealsNext = 0;
   g_dealsDirty = true;
  }

//+------------------------------------------------------------------+
//| Sends every deal of the history from the read cursor (minus a     |
//| look-back) that this handle has not queued yet. On MT5B_E_FULL     |
//| the pass stops, and the read cursor moves up to what was queued   |
//| (short of the refused deal's millisecond): the next pass goes on  |
//| from there, so a history larger than the queue gets through.      |
//+------------------------------------------------------------------+
void SyncDeals()
  {
   //--- a seq returned before the handle's first session may still be renumbered at welcome, and
   //--- the first connection re-reads from the acknowledged point anyway: wait for it
   if(!g_bridge.IsOpen() || !g_everConnected)
      return;
   long from_s = g_dealReadFromMsc / 1000 - DEAL_LOOKBACK_S;
   if(from_s < 0)
      from_s = 0;
   if(!HistorySelect((datetime)from_s, TimeTradeServer() + 86400))
     {
      NoteMqlError("HistorySelect");
      return;
     }
   int total = HistoryDealsTotal();
   long newest = g_dealReadFromMsc;
   long last_seq = 0;
   for(int i = 0; i < total; i++)
     {
      ulong ticket = HistoryDealGetTicket(i);
      if(ticket == 0 || RecentDeal(ticket))
         continue;
      long time_msc = 0;
      long seq = SendDeal(ticket, time_msc);
      if(seq == MT5B_E_FULL)
        {
         BridgeFailed("deal", seq);
         //--- still dirty: the next pass starts after what was queued. The history is in time
         //--- order, so every deal before the refused one's millisecond is queued; deals of that
         //--- millisecond already queued are in RecentDeal and skipped when it is read again.
         if(newest >= time_msc)
            newest = time_msc - 1;
         if(last_seq > 0 && newest > g_dealReadFromMsc)
           {
            g_dealReadFromMsc = newest;
            TrackDealSeq(last_seq, newest);
           }
         return;
        }
      RememberDeal(ticket);                     // also after another error: a retry would fail alike
      if(seq < 0)
        {
         BridgeFailed("deal " + IntegerToString((long)ticket), seq);
         continue;
        }
      last_seq = seq;
      if(time_msc > newest)
         newest = time_msc;
     }
   g_dealsDirty = false;
   if(last_seq == 0)
      return;
   g_dealReadFromMsc = newest;
   TrackDealSeq(last_seq, newest);
  }

//+------------------------------------------------------------------+
//| Order events                                                      |
//+------------------------------------------------------------------+
//| An order's change as OnTradeTransaction reported it, for the      |
//| engine's order journal. Only order and history transactions carry |
//| an order; deals come from the history (SyncDeals), which stays    |
//| the durable record: an event lost to an overflowing transaction   |
//| queue or a full bridge queue costs a journal line, not a deal.    |
//| The transaction has no time of its own, and the order's setup and |
//| done times say when it was placed or finished, not when this      |
//| change happened: the EA's server clock stands in.                 |
//+------------------------------------------------------------------+
void SendOrderEvent(const MqlTradeTransaction &trans)
  {
   bool active = trans.type == TRADE_TRANSACTION_ORDER_ADD ||
                 trans.type == TRADE_TRANSACTION_ORDER_UPDATE ||
                 trans.type == TRADE_TRANSACTION_ORDER_DELETE;
   bool history = trans.type == TRADE_TRANSACTION_HISTORY_ADD ||
                  trans.type == TRADE_TRANSACTION_HISTORY_UPDATE ||
                  trans.type == TRADE_TRANSACTION_HISTORY_DELETE;
   if((!active && !history) || trans.order == 0 || trans.symbol == "")
      return;
   double volume_initial = trans.volume;
   double volume_current = trans.volume;
   double price_open = trans.price;
   long magic = 0;
   long position_id = (long)trans.position;
   string comment = "";
   //--- an order just deleted from the open orders is already in the history
   if(active && trans.type != TRADE_TRANSACTION_ORDER_DELETE && OrderSelect(trans.order))
     {
      volume_initial = OrderGetDouble(ORDER_VOLUME_INITIAL);
      volume_current = OrderGetDouble(ORDER_VOLUME_CURRENT);
      price_open = OrderGetDouble(ORDER_PRICE_OPEN);
      magic = OrderGetInteger(ORDER_MAGIC);
      position_id = OrderGetInteger(ORDER_POSITION_ID);
      comment = OrderGetString(ORDER_COMMENT);
     }
   else if(HistoryOrderSelect(trans.order))
     {
      volume_initial = HistoryOrderGetDouble(trans.order, ORDER_VOLUME_INITIAL);
      volume_current = HistoryOrderGetDouble(trans.order, ORDER_VOLUME_CURRENT);
      price_open = HistoryOrderGetDouble(trans.order, ORDER_PRICE_OPEN);
      magic = HistoryOrderGetInteger(trans.order, ORDER_MAGIC);
      position_id = HistoryOrderGetInteger(trans.order, ORDER_POSITION_ID);
      comment = HistoryOrderGetString(trans.order, ORDER_COMMENT);
     }
   long seq = g_bridge.OrderEvent((long)trans.order, ServerNowMsc(), trans.symbol,
                                  (int)trans.order_type, (int)trans.order_state, volume_initial,
                                  volume_current, price_open, trans.price_sl, trans.price_tp,
                                  magic, position_id, comment, (int)trans.type);
   if(seq < 0)
      BridgeFailed("order_event " + IntegerToString((long)trans.order), seq);
  }

//+------------------------------------------------------------------+
long SendDeal(const ulong ticket, long &time_msc)
  {
   time_msc = HistoryDealGetInteger(ticket, DEAL_TIME_MSC);
   return g_bridge.Deal((long)ticket,
                        HistoryDealGetInteger(ticket, DEAL_ORDER),
                        HistoryDealGetInteger(ticket, DEAL_POSITION_ID),
                        time_msc,
                        (int)HistoryDealGetInteger(ticket, DEAL_TYPE),
                        (int)HistoryDealGetInteger(ticket, DEAL_ENTRY),
                        HistoryDealGetString(ticket, DEAL_SYMBOL),
                        HistoryDealGetDouble(ticket, DEAL_VOLUME),
                        HistoryDealGetDouble(ticket, DEAL_PRICE),
                        HistoryDealGetDouble(ticket, DEAL_PROFIT),
                        HistoryDealGetDouble(ticket, DEAL_COMMISSION),
                        HistoryDealGetDouble(ticket, DEAL_SWAP),
                        HistoryDealGetDouble(ticket, DEAL_FEE),
                        HistoryDealGetInteger(ticket, DEAL_MAGIC),
                        (int)HistoryDealGetInteger(ticket, DEAL_REASON),
                        HistoryDealGetString(ticket, DEAL_COMMENT));
  }

//+------------------------------------------------------------------+
bool RecentDeal(const ulong ticket)
  {
   for(int i = 0; i < g_recentDealsCount; i++)
      if(g_recentDeals[i] == ticket)
         return true;
   return false;
  }

//+------------------------------------------------------------------+
void RememberDeal(const ulong ticket)
  {
   g_recentDeals[g_recentDealsNext] = ticket;
   g_recentDealsNext = (g_recentDealsNext + 1) % RECENT_DEALS;
   if(g_recentDealsCount < RECENT_DEALS)
      g_recentDealsCount++;
  }

//+------------------------------------------------------------------+
void TrackDealSeq(const long seq, const long newest_msc)
  {
   int n = ArraySize(g_pendingDealSeq);
   if(n >= MAX_PENDING_DEAL_SEQS)
     {
      //--- dropping the oldest is safe: acks are cumulative, a later entry covers it
      ArrayRemove(g_pendingDealSeq, 0, 1);
      ArrayRemove(g_pendingDealMsc, 0, 1);
      n--;
     }
   ArrayResize(g_pendingDealSeq, n + 1);
   ArrayResize(g_pendingDealMsc, n + 1);
   g_pendingDealSeq[n] = seq;
   g_pendingDealMsc[n] = newest_msc;
  }

//+------------------------------------------------------------------+
//| Acks are cumulative: once the engine acknowledged a history pass's|
//| last seq, every deal up to that pass's newest time is stored, and |
//| the next start re-reads from there instead of from the beginning. |
//+------------------------------------------------------------------+
void CommitAckedDeals(const long acked_seq)
  {
   int n = ArraySize(g_pendingDealSeq);
   int k = 0;
   long safe = g_dealSafeMsc;
   while(k < n && g_pendingDealSeq[k] <= acked_seq)
     {
      if(g_pendingDealMsc[k] > safe)
         safe = g_pendingDealMsc[k];
      k++;
     }
   if(k == 0)
      return;
   ArrayRemove(g_pendingDealSeq, 0, (uint)k);
   ArrayRemove(g_pendingDealMsc, 0, (uint)k);
   if(safe != g_dealSafeMsc)
     {
      g_dealSafeMsc = safe;
      SaveStateSoon();                          // a lost update only re-reads a few deals
     }
  }

//+------------------------------------------------------------------+
//| Snapshots and heartbeats                                          |
//+------------------------------------------------------------------+
void ScheduleSnapshots()
  {
   ulong now = GetTickCount64();
   if(now < g_nextSnapshotAt)
      return;
   g_nextSnapshotAt = now + (ulong)InpSnapshotSeconds * 1000;
   g_positionsDirty = true;
   g_accountDirty = true;
   g_dealsDirty = true;          // OnTradeTransaction's queue can overflow: re-read now and then
  }

//+------------------------------------------------------------------+
//| Every open position of the account, keyed by POSITION_IDENTIFIER  |
//| (a position's ticket can change). A failed add or end leaves the  |
//| snapshot unsent; the next pass builds it again from the start.    |
//+------------------------------------------------------------------+
bool SendPositions()
  {
   int rc = g_bridge.PositionsBegin(ServerNowMsc());
   if(rc < 0)
      return BridgeFailed("positions_begin", rc);
   int total = PositionsTotal();
   int added = 0;
   for(int i = 0; i < total && added < MAX_SNAPSHOT_POSITIONS; i++)
     {
      ulong ticket = PositionGetTicket(i);
      if(ticket == 0)
         continue;                              // closed meanwhile
      rc = g_bridge.PositionsAdd(PositionGetInteger(POSITION_IDENTIFIER), (long)ticket,
                                 PositionGetString(POSITION_SYMBOL),
                                 (int)PositionGetInteger(POSITION_TYPE),
                                 PositionGetDouble(POSITION_VOLUME),
                                 PositionGetDouble(POSITION_PRICE_OPEN),
                                 PositionGetDouble(POSITION_PRICE_CURRENT),
                                 PositionGetDouble(POSITION_SL),
                                 PositionGetDouble(POSITION_TP),
                                 PositionGetDouble(POSITION_PROFIT),
                                 PositionGetDouble(POSITION_SWAP),
                                 PositionGetInteger(POSITION_MAGIC),
                                 PositionGetInteger(POSITION_TIME_MSC));
      if(rc < 0)
         return BridgeFailed("positions_add", rc);
      added++;
     }
   long seq = g_bridge.PositionsEnd();
   if(seq < 0)
      return BridgeFailed("positions_end", seq);
   return true;
  }

//+------------------------------------------------------------------+
bool SendAccount()
  {
   int count = 0;
   double volume = 0;
   int total = PositionsTotal();
   for(int i = 0; i < total; i++)
     {
      if(PositionGetTicket(i) == 0)
         continue;
      count++;
      volume += PositionGetDouble(POSITION_VOLUME);
     }
   double level = AccountInfoDouble(ACCOUNT_MARGIN_LEVEL);
   if(!MathIsValidNumber(level) || level < 0)
      level = 0;
   long seq = g_bridge.Account(ServerNowMsc(), AccountInfoDouble(ACCOUNT_BALANCE),
                               AccountInfoDouble(ACCOUNT_EQUITY), AccountInfoDouble(ACCOUNT_MARGIN),
                               AccountInfoDouble(ACCOUNT_MARGIN_FREE), level,
                               AccountInfoDouble(ACCOUNT_PROFIT), count, volume);
   if(seq < 0)
      return BridgeFailed("account_snapshot", seq);
   return true;
  }

//+------------------------------------------------------------------+
//| ea_status every InpHeartbeatSeconds and on every change of state. |
//+------------------------------------------------------------------+
void SendHeartbeatIfDue()
  {
   ulong now = GetTickCount64();
   if(!g_statusDue && now < g_nextHeartbeatAt)
      return;
   int err = GetLastError();
   if(err != 0)
     {
      g_lastMqlError = err;
      ResetLastError();
     }
   long seq = g_bridge.Status(ServerNowMsc(), CurrentState(), TerminalTradeAllowed(), EaTradeAllowed(),
                              TerminalConnected(), g_lastMqlError, StatusMessage());
   if(seq == MT5B_E_FULL && g_statusDue)
      return;                                   // a change of state: retried next pass
   if(seq < 0)
      BridgeFailed("ea_status", seq);
   g_statusDue = false;
   g_nextHeartbeatAt = now + (ulong)InpHeartbeatSeconds * 1000;
   g_problem = "";                              // reported once
  }

//+------------------------------------------------------------------+
int CurrentState()
  {
   if(g_stopping)
      return MT5B_STATE_STOPPING;
   if(g_paused)
      return MT5B_STATE_PAUSED;
   if(g_problem != "")
      return MT5B_STATE_ERROR;
   return MT5B_STATE_RUNNING;
  }

//+------------------------------------------------------------------+
string StatusMessage()
  {
   if(g_problem != "")
      return g_problem;
   return StringFormat("%d symbol(s); risk %.2f%%, max lots %.2f, max positions %d, max daily loss %.2f",
                       ArraySize(g_cursors), g_riskPercent, g_maxLots, g_maxPositions, g_maxDailyLoss);
  }

bool TerminalTradeAllowed() { return TerminalInfoInteger(TERMINAL_TRADE_ALLOWED) != 0; }
bool EaTradeAllowed()       { return MQLInfoInteger(MQL_TRADE_ALLOWED) != 0; }
bool TerminalConnected()    { return TerminalInfoInteger(TERMINAL_CONNECTED) != 0; }

//+------------------------------------------------------------------+
//| Commands                                                          |
//+------------------------------------------------------------------+
//| A command is acknowledged before it runs; while an ack or a       |
//| result cannot be queued (MT5B_E_FULL) no further command is taken |
//| out of the bridge's inbox, so that they keep their order.          |
//+------------------------------------------------------------------+
void ProcessCommands()
  {
   if(g_resActive && !RetryResult())
      return;
   if(g_defActive)
     {
      g_defActive = false;
      HandleCommand(g_defId, g_defType, g_defPayload, g_defExpires);
      if(g_defActive || g_resActive)
         return;
     }
   for(int k = 0; k < COMMANDS_PER_PASS; k++)
     {
      string id = "";
      string type = "";
      string payload = "";
      long expires_at = 0;
      int rc = g_bridge.PollCommand(id, type, payload, expires_at);
      if(rc < 0)
        {
         BridgeFailed("poll_command", rc);
         return;
        }
      if(rc == 0)
         return;
      HandleCommand(id, type, payload, expires_at);
      if(g_defActive || g_resActive)
         return;
     }
  }

//+------------------------------------------------------------------+
//| expired, duplicate, rejected or accepted, in that order; only an  |
//| accepted command runs, and its id is stored before it runs so     |
//| that a crash halfway can never run it twice.                      |
//+------------------------------------------------------------------+
void HandleCommand(const string id, const string type, const string payload, const long expires_at)
  {
   if(expires_at > 0 && EngineNowMsc() >= expires_at)
     {
      AckOrDefer(id, type, payload, expires_at, MT5B_ACK_EXPIRED, "expired before the EA could run it");
      return;
     }
   if(CommandSeen(id))
     {
      AckOrDefer(id, type, payload, expires_at, MT5B_ACK_DUPLICATE, "already executed");
      return;
     }
   CJsonObject args;
   string reason = "";
   if(!ValidateCommand(type, payload, args, reason))
     {
      Note(MT5B_LOG_WARN, "command " + type + " " + id + " rejected: " + reason);
      AckOrDefer(id, type, payload, expires_at, MT5B_ACK_REJECTED, reason);
      return;
     }
   if(!AckOrDefer(id, type, payload, expires_at, MT5B_ACK_ACCEPTED, ""))
      return;
   RememberCommand(id);
   string result = "";
   string error = "";
   bool ok = ExecuteCommand(type, args, result, error);
   Note(ok ? MT5B_LOG_INFO : MT5B_LOG_ERROR,
        "command " + type + " " + id + (ok ? " done: " + result : " failed: " + error));
   SendResultOrKeep(id, ok, result, error);
  }

//+------------------------------------------------------------------+
//| true when the ack is queued. On MT5B_E_FULL the whole command is  |
//| kept and handled again next pass (expiry checked anew); on other  |
//| errors it is dropped, and the engine sends it again after the next|
//| reconnect, since it holds no ack for it.                          |
//+------------------------------------------------------------------+
bool AckOrDefer(const string id, const string type, const string payload, const long expires_at,
                const int status, const string reason)
  {
   long seq = g_bridge.Ack(id, status, reason);
   if(seq == MT5B_E_FULL)
     {
      g_defActive = true;
      g_defId = id;
      g_defType = type;
      g_defPayload = payload;
      g_defExpires = expires_at;
      BridgeFailed("command_ack", seq);
      return false;
     }
   if(seq < 0)
     {
      BridgeFailed("command_ack " + id, seq);
      return false;
     }
   return true;
  }

//+------------------------------------------------------------------+
void SendResultOrKeep(const string id, const bool ok, const string result_json, const string error)
  {
   long seq = g_bridge.Result(id, ok, result_json, error);
   if(seq == MT5B_E_FULL)
     {
      g_resActive = true;
      g_resId = id;
      g_resOk = ok;
      g_resJson = result_json;
      g_resError = error;
      BridgeFailed("command_result", seq);
      return;
     }
   if(seq < 0)
      BridgeFailed("command_result " + id, seq);
  }

//+------------------------------------------------------------------+
bool RetryResult()
  {
   long seq = g_bridge.Result(g_resId, g_resOk, g_resJson, g_resError);
   if(seq == MT5B_E_FULL)
      return false;
   g_resActive = false;
   if(seq < 0)
      BridgeFailed("command_result " + g_resId, seq);
   return true;
  }

//+------------------------------------------------------------------+
//| Decides, without side effects, whether a command can run.         |
//| Unknown keys are refused rather than ignored: a misspelt filter   |
//| must not widen a close to every position.                         |
//+------------------------------------------------------------------+
bool ValidateCommand(const string type, const string payload, CJsonObject &args, string &reason)
  {
   string error = "";
   if(!args.Parse(payload, error))
     {
      reason = "bad payload: " + error;
      return false;
     }
   if(type == "pause" || type == "resume")
      return CheckKeys(args, "comment", reason);
   if(type == "close_all")
      return CheckKeys(args, "comment", reason) && TradingPossible(reason);
   if(type == "close_positions")
     {
      CloseFilter filter;
      return CheckKeys(args, "symbol,magic,side,comment", reason) && ReadCloseFilter(args, filter, reason) &&
             TradingPossible(reason);
     }
   if(type == "set_risk")
     {
      double pct = 0, lots = 0, loss = 0;
      int positions = 0;
      return CheckKeys(args, "risk_percent,max_lots,max_positions,max_daily_loss,comment", reason) &&
             ReadRisk(args, pct, lots, positions, loss, reason);
     }
   if(type == "custom")
     {
      reason = "this EA has no custom commands (add them in ValidateCommand and ExecuteCommand)";
      return false;
     }
   reason = "unknown command '" + type + "'";
   return false;
  }

//+------------------------------------------------------------------+
bool ExecuteCommand(const string type, CJsonObject &args, string &result, string &error)
  {
   if(type == "pause")
      return SetPaused(true, result);
   if(type == "resume")
      return SetPaused(false, result);
   if(type == "set_risk")
      return ApplyRisk(args, result, error);
   if(type == "close_all" || type == "close_positions")
     {
      CloseFilter filter;
      //--- close_all has no filter keys (ValidateCommand saw to it): the filter matches everything
      if(!ReadCloseFilter(args, filter, error))
         return false;
      return ClosePositions(filter, result, error);
     }
   error = "no executor for '" + type + "'";
   return false;
  }

//+------------------------------------------------------------------+
bool CheckKeys(CJsonObject &args, const string allowed, string &reason)
  {
   string list = "," + allowed + ",";
   for(int i = 0; i < args.Count(); i++)
     {
      if(StringFind(list, "," + args.Key(i) + ",") < 0)
        {
         reason = "unknown payload key '" + args.Key(i) + "' (accepted: " + allowed + ")";
         return false;
        }
     }
   return true;
  }

//+------------------------------------------------------------------+
bool TradingPossible(string &why)
  {
   if(!TerminalTradeAllowed())
      why = "algorithmic trading is off in the terminal (the Algo Trading button)";
   else if(!EaTradeAllowed())
      why = "this EA may not trade ('Allow Algo Trading' on its Common tab)";
   else if(AccountInfoInteger(ACCOUNT_TRADE_ALLOWED) == 0)
      why = "trading is not allowed on this account (logged in with the investor password?)";
   else if(AccountInfoInteger(ACCOUNT_TRADE_EXPERT) == 0)
      why = "the broker does not allow expert advisors to trade on this account";
   else if(!TerminalConnected())
      why = "the terminal is not connected to the trade server";
   else
      return true;
   return false;
  }

//+------------------------------------------------------------------+
bool ReadCloseFilter(CJsonObject &args, CloseFilter &f, string &reason)
  {
   f.by_symbol = false;
   f.symbol = "";
   f.by_magic = false;
   f.magic = 0;
   f.side = -1;
   if(args.Has("symbol"))
     {
      if(!args.GetString("symbol", f.symbol) || f.symbol == "")
        {
         reason = "symbol must be a non-empty string";
         return false;
        }
      f.by_symbol = true;
     }
   if(args.Has("magic"))
     {
      if(!args.GetLong("magic", f.magic))
        {
         reason = "magic must be an integer";
         return false;
        }
      f.by_magic = true;
     }
   if(args.Has("side"))
     {
      string side = "";
      if(!args.GetString("side", side) || (side != "buy" && side != "sell"))
        {
         reason = "side must be \"buy\" or \"sell\"";
         return false;
        }
      f.side = side == "buy" ? (int)POSITION_TYPE_BUY : (int)POSITION_TYPE_SELL;
     }
   return true;
  }

//+------------------------------------------------------------------+
//| The selected position against the filter.                        |
//+------------------------------------------------------------------+
bool MatchesFilter(const CloseFilter &f)
  {
   if(f.by_symbol && PositionGetString(POSITION_SYMBOL) != f.symbol)
      return false;
   if(f.by_magic && PositionGetInteger(POSITION_MAGIC) != f.magic)
      return false;
   if(f.side >= 0 && (int)PositionGetInteger(POSITION_TYPE) != f.side)
      return false;
   return true;
  }

//+------------------------------------------------------------------+
//| Closes the matching positions one by one (synchronous CTrade: on  |
//| the timer, never in OnTick). ok only when every one closed. The   |
//| result tells each outcome apart, so that nobody resends a close   |
//| that in fact went through:                                        |
//|  - closed: TRADE_RETCODE_DONE, the whole volume;                  |
//|  - partial: TRADE_RETCODE_DONE_PARTIAL, part of it (what is left  |
//|    stays open, with its volume in the result);                    |
//|  - placed: TRADE_RETCODE_PLACED, the closing order is at the      |
//|    broker and not filled yet (exchange execution): it may still   |
//|    close the position, so it is not a failure;                    |
//|  - failed: anything else, nothing was done.                       |
//+------------------------------------------------------------------+
bool ClosePositions(const CloseFilter &f, string &result, string &error)
  {
   int closed = 0;
   int partial = 0;
   int placed = 0;
   int failed = 0;
   string tickets = "";
   string partials = "";
   string placements = "";
   string failures = "";
   for(int i = PositionsTotal() - 1; i >= 0; i--)
     {
      ulong ticket = PositionGetTicket(i);
      if(ticket == 0 || !MatchesFilter(f))
         continue;
      string symbol = PositionGetString(POSITION_SYMBOL);
      double volume = PositionGetDouble(POSITION_VOLUME);
      g_trade.SetTypeFillingBySymbol(symbol);
      ResetLastError();
      bool sent = g_trade.PositionClose(ticket);
      uint retcode = g_trade.ResultRetcode();
      if(sent && retcode == TRADE_RETCODE_DONE)
        {
         closed++;
         tickets += (tickets == "" ? "" : ",") + IntegerToString((long)ticket);
         continue;
        }
      if(sent && retcode == TRADE_RETCODE_DONE_PARTIAL)
        {
         partial++;
         double done = g_trade.ResultVolume();
         partials += (partials == "" ? "" : ",") + "{\"ticket\":" + IntegerToString((long)ticket) +
                     ",\"symbol\":" + JsonEscape(symbol) + ",\"volume_closed\":" + JsonNumber(done) +
                     ",\"volume_left\":" + JsonNumber(volume - done) + "}";
         continue;
        }
      if(sent && retcode == TRADE_RETCODE_PLACED)
        {
         placed++;
         placements += (placements == "" ? "" : ",") + "{\"ticket\":" + IntegerToString((long)ticket) +
                       ",\"symbol\":" + JsonEscape(symbol) + ",\"order\":" +
                       IntegerToString((long)g_trade.ResultOrder()) + "}";
         continue;
        }
      failed++;
      string why = retcode != 0 ? g_trade.ResultRetcodeDescription()
                                : "request not sent, error " + IntegerToString(GetLastError());
      failures += (failures == "" ? "" : ",") + "{\"ticket\":" + IntegerToString((long)ticket) +
                  ",\"symbol\":" + JsonEscape(symbol) + ",\"retcode\":" + IntegerToString(retcode) +
                  ",\"message\":" + JsonEscape(why) + "}";
     }
   result = "{\"closed\":" + IntegerToString(closed) + ",\"partial\":" + IntegerToString(partial) +
            ",\"placed\":" + IntegerToString(placed) + ",\"failed\":" + IntegerToString(failed) +
            ",\"tickets\":[" + tickets + "],\"partials\":[" + partials + "],\"placements\":[" + placements +
            "],\"errors\":[" + failures + "]}";
   int total = closed + partial + placed + failed;
   if(partial + placed + failed > 0)
     {
      //--- one sentence that says what happened to each, not "n not closed"
      error = IntegerToString(closed) + " of " + IntegerToString(total) + " positions closed";
      if(partial > 0)
         error += ", " + IntegerToString(partial) + " partly closed (the rest is still open)";
      if(placed > 0)
         error += ", " + IntegerToString(placed) + " with a closing order placed and not yet filled (do not resend: check the positions first)";
      if(failed > 0)
         error += ", " + IntegerToString(failed) + " failed";
     }
   g_positionsDirty = true;
   g_accountDirty = true;
   return partial + placed + failed == 0;
  }

//+------------------------------------------------------------------+
//| pause stops RunStrategy (closing stays possible); kept in the     |
//| state file, so a paused EA stays paused across a re-init.         |
//+------------------------------------------------------------------+
bool SetPaused(const bool paused, string &result)
  {
   bool changed = g_paused != paused;
   g_paused = paused;
   if(changed)
     {
      SaveState();
      g_statusDue = true;
     }
   result = "{\"paused\":" + (paused ? "true" : "false") + ",\"changed\":" + (changed ? "true" : "false") + "}";
   return true;
  }

//+------------------------------------------------------------------+
//| The payload's values over the current ones; at least one needed.  |
//+------------------------------------------------------------------+
bool ReadRisk(CJsonObject &args, double &pct, double &lots, int &positions, double &loss, string &reason)
  {
   pct = g_riskPercent;
   lots = g_maxLots;
   positions = g_maxPositions;
   loss = g_maxDailyLoss;
   int given = 0;
   if(args.Has("risk_percent"))
     {
      if(!args.GetDouble("risk_percent", pct) || pct < 0 || pct > 100)
        {
         reason = "risk_percent must be a number from 0 to 100";
         return false;
        }
      given++;
     }
   if(args.Has("max_lots"))
     {
      if(!args.GetDouble("max_lots", lots) || lots < 0)
        {
         reason = "max_lots must be a number >= 0";
         return false;
        }
      given++;
     }
   if(args.Has("max_positions"))
     {
      long value = 0;
      if(!args.GetLong("max_positions", value) || value < 0 || value > 100000)
        {
         reason = "max_positions must be an integer from 0 to 100000";
         return false;
        }
      positions = (int)value;
      given++;
     }
   if(args.Has("max_daily_loss"))
     {
      if(!args.GetDouble("max_daily_loss", loss) || loss < 0)
        {
         reason = "max_daily_loss must be a number >= 0";
         return false;
        }
      given++;
     }
   if(given == 0)
     {
      reason = "set_risk needs at least one of risk_percent, max_lots, max_positions, max_daily_loss";
      return false;
     }
   return true;
  }

//+------------------------------------------------------------------+
bool ApplyRisk(CJsonObject &args, string &result, string &error)
  {
   double pct = 0, lots = 0, loss = 0;
   int positions = 0;
   if(!ReadRisk(args, pct, lots, positions, loss, error))
      return false;
   g_riskPercent = pct;
   g_maxLots = lots;
   g_maxPositions = positions;
   g_maxDailyLoss = loss;
   SaveState();
   g_statusDue = true;
   result = "{\"risk_percent\":" + JsonNumber(pct) + ",\"max_lots\":" + JsonNumber(lots) +
            ",\"max_positions\":" + IntegerToString(positions) + ",\"max_daily_loss\":" + JsonNumber(loss) + "}";
   return true;
  }

//+------------------------------------------------------------------+
bool CommandSeen(const string id)
  {
   for(int i = 0; i < ArraySize(g_cmdIds); i++)
      if(g_cmdIds[i] == id)
         return true;
   return false;
  }

//+------------------------------------------------------------------+
//| Stored before the command runs, and written to the state file at  |
//| once: bounded by count and age (oldest first).                    |
//+------------------------------------------------------------------+
void RememberCommand(const string id)
  {
   PruneCommandIds();
   int n = ArraySize(g_cmdIds);
   if(n >= MAX_COMMAND_IDS)
     {
      int drop = n - MAX_COMMAND_IDS + 1;
      ArrayRemove(g_cmdIds, 0, (uint)drop);
      ArrayRemove(g_cmdSeenAt, 0, (uint)drop);
      n -= drop;
     }
   ArrayResize(g_cmdIds, n + 1);
   ArrayResize(g_cmdSeenAt, n + 1);
   g_cmdIds[n] = id;
   g_cmdSeenAt[n] = (long)TimeGMT();
   SaveState();
  }

//+------------------------------------------------------------------+
void PruneCommandIds()
  {
   long cutoff = (long)TimeGMT() - COMMAND_ID_KEEP_S;
   int n = ArraySize(g_cmdIds);
   int k = 0;
   while(k < n && g_cmdSeenAt[k] < cutoff)
      k++;
   if(k == 0)
      return;
   ArrayRemove(g_cmdIds, 0, (uint)k);
   ArrayRemove(g_cmdSeenAt, 0, (uint)k);
  }

//+------------------------------------------------------------------+
//| JSON output                                                       |
//+------------------------------------------------------------------+
string JsonEscape(const string s)
  {
   string out = "\"";
   int n = StringLen(s);
   for(int i = 0; i < n; i++)
     {
      ushort c = StringGetCharacter(s, i);
      if(c == '"')
         out += "\\\"";
      else if(c == '\\')
         out += "\\\\";
      else if(c == '\n')
         out += "\\n";
      else if(c == '\r')
         out += "\\r";
      else if(c == '\t')
         out += "\\t";
      else if(c < 0x20)
         out += StringFormat("\\u%04x", (int)c);
      else
         out += ShortToString(c);
     }
   return out + "\"";
  }

//+------------------------------------------------------------------+
string JsonNumber(const double v)
  {
   if(!MathIsValidNumber(v))
      return "null";
   return StringFormat("%.10g", v);
  }

//+------------------------------------------------------------------+
//| Logs: printed here and queued for the engine's log table          |
//+------------------------------------------------------------------+
void Note(const int level, const string text)
  {
   Print(LevelName(level), ": ", text);
   int n = ArraySize(g_logTexts);
   if(n >= MAX_PENDING_LOGS)
     {
      ArrayRemove(g_logLevels, 0, 1);
      ArrayRemove(g_logTimes, 0, 1);
      ArrayRemove(g_logTexts, 0, 1);
      g_logsDropped++;
      n--;
     }
   ArrayResize(g_logLevels, n + 1);
   ArrayResize(g_logTimes, n + 1);
   ArrayResize(g_logTexts, n + 1);
   g_logLevels[n] = level;
   g_logTimes[n] = ServerNowMsc();
   g_logTexts[n] = text;
  }

//+------------------------------------------------------------------+
void FlushLogs()
  {
   if(!g_bridge.IsOpen())
      return;
   if(g_logsDropped > 0)
     {
      long seq = g_bridge.Log(ServerNowMsc(), MT5B_LOG_WARN,
                              IntegerToString(g_logsDropped) + " log message(s) dropped while the bridge was busy");
      if(seq == MT5B_E_FULL)
         return;
      g_logsDropped = 0;
     }
   int n = ArraySize(g_logTexts);
   int sent = 0;
   while(sent < n)
     {
      long seq = g_bridge.Log(g_logTimes[sent], g_logLevels[sent], g_logTexts[sent]);
      if(seq == MT5B_E_FULL)
         break;                                 // kept for the next pass
      sent++;                                   // sent, or refused for good
     }
   if(sent == 0)
      return;
   ArrayRemove(g_logLevels, 0, (uint)sent);
   ArrayRemove(g_logTimes, 0, (uint)sent);
   ArrayRemove(g_logTexts, 0, (uint)sent);
  }

//+------------------------------------------------------------------+
string LevelName(const int level)
  {
   switch(level)
     {
      case MT5B_LOG_DEBUG: return "debug";
      case MT5B_LOG_INFO:  return "info";
      case MT5B_LOG_WARN:  return "warn";
     }
   return "error";
  }

//+------------------------------------------------------------------+
//| Records a failed bridge call for the next heartbeat and logs it,  |
//| at most once a minute for the same call and code. Returns false,  |
//| so that callers can `return BridgeFailed(...)`.                   |
//+------------------------------------------------------------------+
bool BridgeFailed(const string what, const long rc)
  {
   string text = what + ": " + CMT5Bridge::ErrorName(rc) + ", " + CMT5Bridge::ErrorText(rc);
   g_problem = text;
   if(ShouldReport(what + "/" + IntegerToString(rc)))
      Note(rc == MT5B_E_FULL ? MT5B_LOG_WARN : MT5B_LOG_ERROR, text);
   return false;
  }

//+------------------------------------------------------------------+
void NoteMqlError(const string what)
  {
   int err = GetLastError();
   ResetLastError();
   g_lastMqlError = err;
   g_problem = what + " failed: error " + IntegerToString(err);
   if(ShouldReport(what + "/" + IntegerToString(err)))
      Note(MT5B_LOG_WARN, g_problem);
  }

//+------------------------------------------------------------------+
//| Several calls fail at once while the engine is away (deals,        |
//| snapshots, heartbeats), so the last report time is kept per key.  |
//+------------------------------------------------------------------+
bool ShouldReport(const string key)
  {
   ulong now = GetTickCount64();
   int n = ArraySize(g_reportKeys);
   for(int i = 0; i < n; i++)
     {
      if(g_reportKeys[i] != key)
         continue;
      if(now < g_reportAt[i] + REPORT_EVERY_MS)
         return false;
      g_reportAt[i] = now;
      return true;
     }
   if(n >= MAX_REPORT_KEYS)
     {
      ArrayRemove(g_reportKeys, 0, 1);
      ArrayRemove(g_reportAt, 0, 1);
      n--;
     }
   ArrayResize(g_reportKeys, n + 1);
   ArrayResize(g_reportAt, n + 1);
   g_reportKeys[n] = key;
   g_reportAt[n] = now;
   return true;
  }

//+------------------------------------------------------------------+
string DeinitReasonText(const int reason)
  {
   switch(reason)
     {
      case REASON_PROGRAM:     return "REASON_PROGRAM";
      case REASON_REMOVE:      return "REASON_REMOVE";
      case REASON_RECOMPILE:   return "REASON_RECOMPILE";
      case REASON_CHARTCHANGE: return "REASON_CHARTCHANGE";
      case REASON_CHARTCLOSE:  return "REASON_CHARTCLOSE";
      case REASON_PARAMETERS:  return "REASON_PARAMETERS";
      case REASON_ACCOUNT:     return "REASON_ACCOUNT";
      case REASON_TEMPLATE:    return "REASON_TEMPLATE";
      case REASON_INITFAILED:  return "REASON_INITFAILED";
      case REASON_CLOSE:       return "REASON_CLOSE";
     }
   return "reason " + IntegerToString(reason);
  }

//+------------------------------------------------------------------+
//| State file: MQL5\Files\MT5EngineBridge\<instance>.state          |
//+------------------------------------------------------------------+
//| Cursors (deals, ticks) move with every ack: the file is rewritten |
//| at most every STATE_SAVE_EVERY_MS for them, and at OnDeinit. An   |
//| older cursor on disk only means a few deals re-read and ticks     |
//| resent, which the engine stores once. Command ids, pause and risk |
//| are written at once (SaveState): a command must not run twice.    |
//+------------------------------------------------------------------+
void SaveStateSoon()
  {
   g_stateDirty = true;
  }

//+------------------------------------------------------------------+
void SaveStateIfDue()
  {
   if(g_stateDirty && GetTickCount64() - g_stateSavedAt >= STATE_SAVE_EVERY_MS)
      SaveState();
  }

//+------------------------------------------------------------------+
//| Binary, versioned, written to a temporary file and moved over the |
//| old one, so that a crash while writing leaves the previous state. |
//| The risk values set by commands are kept only while the risk      |
//| inputs are unchanged: a user who edits the inputs wins.           |
//+------------------------------------------------------------------+
void SaveState()
  {
   if(g_statePath == "")
      return;
   g_stateDirty = false;
   g_stateSavedAt = GetTickCount64();
   string tmp = g_statePath + ".tmp";
   int h = FileOpen(tmp, FILE_WRITE | FILE_BIN);
   if(h == INVALID_HANDLE)
     {
      NoteMqlError("writing " + tmp);
      return;
     }
   FileWriteInteger(h, STATE_MAGIC);
   FileWriteInteger(h, STATE_VERSION);
   FileWriteLong(h, g_dealSafeMsc);
   FileWriteInteger(h, g_paused ? 1 : 0);
   FileWriteDouble(h, InpRiskPercent);
   FileWriteDouble(h, InpMaxLots);
   FileWriteInteger(h, InpMaxPositions);
   FileWriteDouble(h, InpMaxDailyLoss);
   FileWriteDouble(h, g_riskPercent);
   FileWriteDouble(h, g_maxLots);
   FileWriteInteger(h, g_maxPositions);
   FileWriteDouble(h, g_maxDailyLoss);

   int ids = ArraySize(g_cmdIds);
   FileWriteInteger(h, ids);
   for(int i = 0; i < ids; i++)
     {
      FileWriteLong(h, g_cmdSeenAt[i]);
      WriteText(h, g_cmdIds[i]);
     }

   //--- the acknowledged cursors only: what was handed to the bridge may still be lost with it
   int started = 0;
   for(int i = 0; i < ArraySize(g_cursors); i++)
      if(g_cursors[i].acked_msc > 0)
         started++;
   FileWriteInteger(h, started);
   long now = (long)TimeGMT();
   for(int i = 0; i < ArraySize(g_cursors); i++)
     {
      if(g_cursors[i].acked_msc <= 0)
         continue;
      WriteText(h, g_cursors[i].name);
      FileWriteLong(h, g_cursors[i].acked_msc);
      FileWriteInteger(h, g_cursors[i].acked_count);
      FileWriteLong(h, now);
     }
   FileClose(h);
   if(!FileMove(tmp, 0, g_statePath, FILE_REWRITE))
      NoteMqlError("replacing " + g_statePath);
  }

//+------------------------------------------------------------------+
void LoadState()
  {
   g_paused = false;
   g_riskPercent = InpRiskPercent;
   g_maxLots = InpMaxLots;
   g_maxPositions = InpMaxPositions;
   g_maxDailyLoss = InpMaxDailyLoss;
   g_dealSafeMsc = 0;                           // first run with InpHistoryDays 0: all the history
   if(InpHistoryDays > 0)
      g_dealSafeMsc = ((long)TimeTradeServer() - (long)InpHistoryDays * 86400) * 1000;
   ArrayResize(g_cmdIds, 0);
   ArrayResize(g_cmdSeenAt, 0);
   ArrayResize(g_savedSymbols, 0);
   ArrayResize(g_savedMsc, 0);
   ArrayResize(g_savedCount, 0);
   ArrayResize(g_savedAt, 0);
   if(!FileIsExist(g_statePath))
      return;                                   // first run
   int h = FileOpen(g_statePath, FILE_READ | FILE_BIN);
   if(h == INVALID_HANDLE)
     {
      NoteMqlError("reading " + g_statePath);
      return;
     }
   int magic = FileReadInteger(h);
   int version = FileReadInteger(h);
   if(magic != STATE_MAGIC || version < 1 || version > STATE_VERSION)
     {
      FileClose(h);
      Note(MT5B_LOG_WARN, g_statePath + " is not a state file of this version: starting afresh");
      return;
     }
   g_dealSafeMsc = FileReadLong(h);
   g_paused = FileReadInteger(h) != 0;
   bool same_inputs = FileReadDouble(h) == InpRiskPercent;
   same_inputs = (FileReadDouble(h) == InpMaxLots) && same_inputs;
   same_inputs = (FileReadInteger(h) == InpMaxPositions) && same_inputs;
   same_inputs = (FileReadDouble(h) == InpMaxDailyLoss) && same_inputs;
   double pct = FileReadDouble(h);
   double lots = FileReadDouble(h);
   int positions = FileReadInteger(h);
   double loss = FileReadDouble(h);
   if(same_inputs)
     {
      g_riskPercent = pct;
      g_maxLots = lots;
      g_maxPositions = positions;
      g_maxDailyLoss = loss;
     }

   int ids = FileReadInteger(h);
   if(ids < 0 || ids > MAX_COMMAND_IDS)
      ids = 0;
   ArrayResize(g_cmdIds, ids);
   ArrayResize(g_cmdSeenAt, ids);
   for(int i = 0; i < ids; i++)
     {
      g_cmdSeenAt[i] = FileReadLong(h);
      g_cmdIds[i] = ReadText(h);
     }

   int cursors = FileReadInteger(h);
   if(cursors < 0 || cursors > 10000)
      cursors = 0;
   ArrayResize(g_savedSymbols, cursors);
   ArrayResize(g_savedMsc, cursors);
   ArrayResize(g_savedCount, cursors);
   ArrayResize(g_savedAt, cursors);
   for(int i = 0; i < cursors; i++)
     {
      g_savedSymbols[i] = ReadText(h);
      g_savedMsc[i] = FileReadLong(h);
      g_savedCount[i] = version >= 2 ? FileReadInteger(h) : -1;
      g_savedAt[i] = FileReadLong(h);
     }
   FileClose(h);
   PruneCommandIds();
  }

//+------------------------------------------------------------------+
void WriteText(const int h, const string s)
  {
   int len = StringLen(s);
   FileWriteInteger(h, len);
   if(len > 0)
      FileWriteString(h, s, len);
  }

//+------------------------------------------------------------------+
string ReadText(const int h)
  {
   int len = FileReadInteger(h);
   if(len <= 0 || len > 65536)
      return "";
   return FileReadString(h, len);
  }

//+------------------------------------------------------------------+
//| CJsonObject                                                       |
//+------------------------------------------------------------------+
bool CJsonObject::Parse(const string text, string &error)
  {
   ArrayResize(m_keys, 0);
   ArrayResize(m_values, 0);
   ArrayResize(m_kinds, 0);
   m_text = text;
   m_len = StringLen(text);
   m_pos = 0;
   SkipSpace();
   if(m_pos >= m_len)
      return true;                              // no payload at all: the same as {}
   if(Peek() != '{')
     {
      error = "not a JSON object";
      return false;
     }
   m_pos++;
   SkipSpace();
   if(Peek() == '}')
      m_pos++;
   else
     {
      while(true)
        {
         SkipSpace();
         string key = "";
         if(!ReadString(key))
           {
            error = "expected a quoted key at offset " + IntegerToString(m_pos);
            return false;
           }
         if(Has(key))
           {
            error = "duplicate key '" + key + "'";
            return false;
           }
         SkipSpace();
         if(Peek() != ':')
           {
            error = "expected ':' after '" + key + "'";
            return false;
           }
         m_pos++;
         SkipSpace();
         string value = "";
         int kind = JSON_NULL;
         if(!ReadValue(value, kind))
           {
            error = "bad value for '" + key + "' at offset " + IntegerToString(m_pos);
            return false;
           }
         Add(key, value, kind);
         SkipSpace();
         ushort c = Peek();
         m_pos++;
         if(c == ',')
            continue;
         if(c == '}')
            break;
         error = "expected ',' or '}' at offset " + IntegerToString(m_pos - 1);
         return false;
        }
     }
   SkipSpace();
   if(m_pos < m_len)
     {
      error = "text after the JSON object";
      return false;
     }
   return true;
  }

//+------------------------------------------------------------------+
void CJsonObject::SkipSpace(void)
  {
   while(m_pos < m_len)
     {
      ushort c = StringGetCharacter(m_text, m_pos);
      if(c != ' ' && c != '\t' && c != '\r' && c != '\n')
         break;
      m_pos++;
     }
  }

//+------------------------------------------------------------------+
bool CJsonObject::ReadString(string &out)
  {
   out = "";
   if(Peek() != '"')
      return false;
   m_pos++;
   while(m_pos < m_len)
     {
      ushort c = StringGetCharacter(m_text, m_pos);
      m_pos++;
      if(c == '"')
         return true;
      if(c != '\\')
        {
         out += ShortToString(c);
         continue;
        }
      if(m_pos >= m_len)
         return false;
      ushort e = StringGetCharacter(m_text, m_pos);
      m_pos++;
      int code = 0;
      switch(e)
        {
         case '"':  out += "\""; break;
         case '\\': out += "\\"; break;
         case '/':  out += "/";  break;
         case 'b':  out += ShortToString(8);  break;
         case 'f':  out += ShortToString(12); break;
         case 'n':  out += "\n"; break;
         case 'r':  out += "\r"; break;
         case 't':  out += "\t"; break;
         case 'u':
            //--- a UTF-16 code unit; MQL5 strings are UTF-16, so surrogate pairs simply follow each other
            if(!ReadHex4(code))
               return false;
            out += ShortToString((ushort)code);
            break;
         default:
            return false;
        }
     }
   return false;                                // no closing quote
  }

//+------------------------------------------------------------------+
bool CJsonObject::ReadHex4(int &code)
  {
   code = 0;
   if(m_pos + 4 > m_len)
      return false;
   for(int i = 0; i < 4; i++)
     {
      ushort c = StringGetCharacter(m_text, m_pos);
      m_pos++;
      int digit = 0;
      if(c >= '0' && c <= '9')
         digit = c - '0';
      else if(c >= 'a' && c <= 'f')
         digit = c - 'a' + 10;
      else if(c >= 'A' && c <= 'F')
         digit = c - 'A' + 10;
      else
         return false;
      code = code * 16 + digit;
     }
   return true;
  }

//+------------------------------------------------------------------+
bool CJsonObject::ReadLiteral(const string word)
  {
   int n = StringLen(word);
   if(StringSubstr(m_text, m_pos, n) != word)
      return false;
   m_pos += n;
   return true;
  }

//+------------------------------------------------------------------+
bool CJsonObject::ReadNumber(string &out)
  {
   int start = m_pos;
   while(m_pos < m_len)
     {
      ushort c = StringGetCharacter(m_text, m_pos);
      if((c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E')
         m_pos++;
      else
         break;
     }
   if(m_pos == start)
      return false;
   out = StringSubstr(m_text, start, m_pos - start);
   return true;
  }

//+------------------------------------------------------------------+
//| Skips a nested object or array (kept as raw text), minding the    |
//| brackets inside strings.                                          |
//+------------------------------------------------------------------+
bool CJsonObject::SkipNested(void)
  {
   int depth = 0;
   while(m_pos < m_len)
     {
      ushort c = StringGetCharacter(m_text, m_pos);
      if(c == '"')
        {
         string ignored = "";
         if(!ReadString(ignored))
            return false;
         continue;
        }
      m_pos++;
      if(c == '{' || c == '[')
         depth++;
      else if(c == '}' || c == ']')
        {
         depth--;
         if(depth == 0)
            return true;
        }
     }
   return false;
  }

//+------------------------------------------------------------------+
bool CJsonObject::ReadValue(string &value, int &kind)
  {
   ushort c = Peek();
   if(c == '"')
     {
      kind = JSON_STRING;
      return ReadString(value);
     }
   if(c == '{' || c == '[')
     {
      int start = m_pos;
      if(!SkipNested())
         return false;
      kind = JSON_NESTED;
      value = StringSubstr(m_text, start, m_pos - start);
      return true;
     }
   if(c == 't')
     {
      kind = JSON_BOOL;
      value = "true";
      return ReadLiteral("true");
     }
   if(c == 'f')
     {
      kind = JSON_BOOL;
      value = "false";
      return ReadLiteral("false");
     }
   if(c == 'n')
     {
      kind = JSON_NULL;
      value = "";
      return ReadLiteral("null");
     }
   kind = JSON_NUMBER;
   return ReadNumber(value);
  }

//+------------------------------------------------------------------+
void CJsonObject::Add(const string key, const string value, const int kind)
  {
   int n = ArraySize(m_keys);
   ArrayResize(m_keys, n + 1);
   ArrayResize(m_values, n + 1);
   ArrayResize(m_kinds, n + 1);
   m_keys[n] = key;
   m_values[n] = value;
   m_kinds[n] = kind;
  }

//+------------------------------------------------------------------+
int CJsonObject::Find(const string key) const
  {
   for(int i = 0; i < ArraySize(m_keys); i++)
      if(m_keys[i] == key)
         return i;
   return -1;
  }

//+------------------------------------------------------------------+
bool CJsonObject::GetString(const string key, string &out) const
  {
   int i = Find(key);
   if(i < 0 || m_kinds[i] != JSON_STRING)
      return false;
   out = m_values[i];
   return true;
  }

//+------------------------------------------------------------------+
bool CJsonObject::GetDouble(const string key, double &out) const
  {
   int i = Find(key);
   if(i < 0 || m_kinds[i] != JSON_NUMBER)
      return false;
   out = StringToDouble(m_values[i]);
   return MathIsValidNumber(out);
  }

//+------------------------------------------------------------------+
//| Integers, also when written as 12.0 or 1e3; within +-(2^53 - 1),   |
//| the protocol's integer range.                                     |
//+------------------------------------------------------------------+
bool CJsonObject::GetLong(const string key, long &out) const
  {
   int i = Find(key);
   if(i < 0 || m_kinds[i] != JSON_NUMBER)
      return false;
   string text = m_values[i];
   double d = StringToDouble(text);
   if(!MathIsValidNumber(d) || d != MathFloor(d) || MathAbs(d) > 9007199254740991.0)
      return false;
   bool plain = StringFind(text, ".") < 0 && StringFind(text, "e") < 0 && StringFind(text, "E") < 0;
   out = plain ? StringToInteger(text) : (long)d;
   return true;
  }
//+------------------------------------------------------------------+
