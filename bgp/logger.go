package bgp

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"unicode"

	gobgplog "github.com/osrg/gobgp/v3/pkg/log"
)

// gobgpLogger adapts GoBGP's logger to slog. GoBGP logs routine operations
// at info, so info becomes debug here; the speaker logs peer state changes
// itself. It also taps GoBGP's "state changed" debug line, the only place
// the reason of a transition (hold timer expired, NOTIFICATION received…)
// is visible through the public API.
type gobgpLogger struct {
	log *slog.Logger
	// onStateChange receives (neighbor address, new state, reason).
	onStateChange func(addr, state, reason string)
	// onFatal replaces os.Exit: GoBGP calls Fatal when the gRPC listener fails.
	onFatal func(msg string)
}

var _ gobgplog.Logger = (*gobgpLogger)(nil)

func (g *gobgpLogger) Panic(msg string, f gobgplog.Fields) {
	g.emit(slog.LevelError, msg, f)
	panic(msg)
}

func (g *gobgpLogger) Fatal(msg string, f gobgplog.Fields) {
	g.emit(slog.LevelError, msg, f)
	if g.onFatal != nil {
		g.onFatal(fmt.Sprintf("%s: %v", msg, f["Err"]))
	}
}

func (g *gobgpLogger) Error(msg string, f gobgplog.Fields) { g.emit(slog.LevelError, msg, f) }
func (g *gobgpLogger) Warn(msg string, f gobgplog.Fields)  { g.emit(slog.LevelWarn, msg, f) }
func (g *gobgpLogger) Info(msg string, f gobgplog.Fields)  { g.emit(slog.LevelDebug, msg, f) }

func (g *gobgpLogger) Debug(msg string, f gobgplog.Fields) {
	if msg == "state changed" && g.onStateChange != nil {
		addr, _ := f["Key"].(string)
		state, _ := f["new"].(string)
		reason := ""
		if r := f["reason"]; r != nil {
			reason = fmt.Sprint(r)
			if reason == "<nil>" {
				reason = ""
			}
		}
		g.onStateChange(addr, fsmStateName(state), reason)
	}
	g.emit(slog.LevelDebug, msg, f)
}

// SetLevel is ignored: the slog handler decides.
func (g *gobgpLogger) SetLevel(gobgplog.LogLevel) {}

func (g *gobgpLogger) GetLevel() gobgplog.LogLevel {
	if g.log.Enabled(context.Background(), slog.LevelDebug) {
		return gobgplog.DebugLevel
	}
	return gobgplog.InfoLevel
}

func (g *gobgpLogger) emit(level slog.Level, msg string, f gobgplog.Fields) {
	ctx := context.Background()
	if !g.log.Enabled(ctx, level) {
		return
	}
	keys := make([]string, 0, len(f))
	for k := range f {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	attrs := make([]slog.Attr, 0, len(keys)+1)
	attrs = append(attrs, slog.String("component", "gobgp"))
	for _, k := range keys {
		attrs = append(attrs, slog.Any(snakeCase(k), fmt.Sprint(f[k])))
	}
	g.log.LogAttrs(ctx, level, msg, attrs...)
}

// snakeCase turns GoBGP's field names ("Topic", "Communicated-Reason",
// "_facility") into the house style's snake_case keys.
func snakeCase(s string) string {
	var b strings.Builder
	prevLower := false
	for _, r := range strings.TrimLeft(s, "_") {
		switch {
		case r == '-' || r == ' ' || r == '_':
			b.WriteByte('_')
			prevLower = false
		case unicode.IsUpper(r):
			if prevLower {
				b.WriteByte('_')
			}
			b.WriteRune(unicode.ToLower(r))
			prevLower = false
		default:
			b.WriteRune(r)
			prevLower = true
		}
	}
	return b.String()
}

// fsmStateName maps GoBGP's "BGP_FSM_ESTABLISHED" to "established".
func fsmStateName(s string) string {
	return strings.ToLower(strings.TrimPrefix(s, "BGP_FSM_"))
}
