package bgp

import (
	"context"
	"log/slog"
	"strings"
	"unicode"
)

// GoBGPLogger returns the logger and level for server.LoggerOption of an
// embedded GoBGP v4 server; the speaker uses it, and so does the emulated
// Route Server. See gobgpLogger.
func GoBGPLogger(log *slog.Logger) (*slog.Logger, *slog.LevelVar) { return gobgpLogger(log) }

// gobgpLogger gives GoBGP a logger that writes through ours: GoBGP logs
// routine operations at info, so info becomes debug here (the speaker logs
// peer state changes itself), keys become snake_case ("Topic",
// "Communicated-Reason" → topic, communicated_reason) and every record
// carries component=gobgp. Nothing reads GoBGP's log text: peer-state
// reasons come from its events.
func gobgpLogger(log *slog.Logger) (*slog.Logger, *slog.LevelVar) {
	level := new(slog.LevelVar)
	level.Set(slog.LevelDebug) // our handler decides what is written
	return slog.New(&gobgpHandler{h: log.Handler()}).With("component", "gobgp"), level
}

type gobgpHandler struct{ h slog.Handler }

func demote(l slog.Level) slog.Level {
	if l == slog.LevelInfo {
		return slog.LevelDebug
	}
	return l
}

func (g *gobgpHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return g.h.Enabled(ctx, demote(l))
}

func (g *gobgpHandler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, demote(r.Level), r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(snakeAttr(a))
		return true
	})
	return g.h.Handle(ctx, out)
}

func (g *gobgpHandler) WithAttrs(as []slog.Attr) slog.Handler {
	out := make([]slog.Attr, len(as))
	for i, a := range as {
		out[i] = snakeAttr(a)
	}
	return &gobgpHandler{h: g.h.WithAttrs(out)}
}

func (g *gobgpHandler) WithGroup(name string) slog.Handler {
	return &gobgpHandler{h: g.h.WithGroup(snakeCase(name))}
}

func snakeAttr(a slog.Attr) slog.Attr {
	a.Key = snakeCase(a.Key)
	if a.Value.Kind() == slog.KindGroup {
		g := a.Value.Group()
		out := make([]any, len(g))
		for i, x := range g {
			out[i] = snakeAttr(x)
		}
		return slog.Group(a.Key, out...)
	}
	return a
}

// snakeCase turns GoBGP's field names ("Topic", "Communicated-Reason",
// "_facility", "Remote Addr") into the house style's snake_case keys.
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
