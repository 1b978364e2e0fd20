package qrcode

import (
	"embed"
	"html/template"
)

//go:embed templates/*.html
var templateFS embed.FS

// templates holds every page, parsed once; html/template escapes all data by context.
var templates = template.Must(template.New("").ParseFS(templateFS, "templates/*.html"))
