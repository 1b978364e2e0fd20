package main

import (
	"io"
	"log/slog"
	"strings"

	"github.com/o2ohub/o2ohub/core/member"
	"github.com/o2ohub/o2ohub/handlers"
)

// newLogger returns a JSON logger that masks phone numbers and drops secrets by attribute name, as a
// last line of defence behind code that should not log them in the first place.
func newLogger(w io.Writer, level string) *slog.Logger {
	var lv slog.Level
	lv.UnmarshalText([]byte(level))
	return slog.New(handlers.ContextLogHandler(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: lv, ReplaceAttr: redact})))
}

func redact(_ []string, a slog.Attr) slog.Attr {
	k := strings.ToLower(a.Key)
	switch {
	case k == "phone" || strings.HasSuffix(k, "_phone"):
		return slog.String(a.Key, member.MaskPhone(a.Value.String()))
	case strings.Contains(k, "token") || strings.Contains(k, "secret") || strings.Contains(k, "password") || k == "authorization":
		return slog.String(a.Key, "[redacted]")
	}
	return a
}
