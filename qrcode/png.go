package qrcode

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"sync"

	goqr "github.com/skip2/go-qrcode"
)

// Image sizes, in pixels, accepted by PNG.
const (
	// MinSize is the smallest image PNG draws; smaller requests are raised to it.
	MinSize = 128
	// MaxSize is the largest image PNG draws; larger requests are lowered to it.
	MaxSize = 2048
	// DefaultSize is the size PNG draws when asked for zero or a negative size.
	DefaultSize = 512
)

// ErrTooLong is returned by PNG when content does not fit in a QR code at level High, or needs more
// modules than the image has pixels (each module must be at least one whole pixel to scan reliably).
var ErrTooLong = errors.New("qrcode: content too long for a QR code of this size")

// ErrEmpty is returned by PNG for empty content.
var ErrEmpty = errors.New("qrcode: empty content")

// palette is black on white; a two-colour palette makes the encoder write a 1-bit PNG.
var palette = color.Palette{color.White, color.Black}

// encoder reuses compression buffers across calls, which matters when a sheet renders thousands.
var encoder = png.Encoder{CompressionLevel: png.DefaultCompression, BufferPool: &bufferPool{}}

type bufferPool struct{ p sync.Pool }

func (b *bufferPool) Get() *png.EncoderBuffer {
	if v, ok := b.p.Get().(*png.EncoderBuffer); ok {
		return v
	}
	return nil
}

func (b *bufferPool) Put(v *png.EncoderBuffer) { b.p.Put(v) }

// clampSize maps a requested size onto [MinSize, MaxSize], with DefaultSize for size <= 0.
func clampSize(size int) int {
	switch {
	case size <= 0:
		return DefaultSize
	case size < MinSize:
		return MinSize
	case size > MaxSize:
		return MaxSize
	}
	return size
}

// PNG encodes content as a QR code PNG of size×size pixels, black on white. The size is clamped to
// [MinSize, MaxSize] (zero or negative means DefaultSize). Error correction is level High (about 25%
// of the symbol may be lost, as printed labels get scratched and stained; level Q in ISO/IEC 18004), and the standard quiet zone
// of 4 modules is kept on every side. Each module is drawn as a whole number of pixels so edges stay
// sharp; the pixels left over are added evenly to the white margin, which therefore may be a little
// wider than 4 modules. It returns ErrEmpty for empty content and ErrTooLong when the content does not
// fit.
func PNG(content string, size int) ([]byte, error) {
	if content == "" {
		return nil, ErrEmpty
	}
	size = clampSize(size)
	q, err := goqr.New(content, goqr.High)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrTooLong, err)
	}
	bitmap := q.Bitmap() // includes the 4-module quiet zone; call it once (it mutates q)
	n := len(bitmap)
	scale := size / n
	if scale < 1 {
		return nil, fmt.Errorf("%w: %d modules in %d pixels", ErrTooLong, n, size)
	}
	off := (size - n*scale) / 2
	img := image.NewPaletted(image.Rect(0, 0, size, size), palette)
	// Build each module row once, then copy it scale times.
	for my, row := range bitmap {
		y0 := off + my*scale
		line := img.Pix[y0*img.Stride : y0*img.Stride+size]
		for mx, dark := range row {
			if dark {
				x0 := off + mx*scale
				for x := x0; x < x0+scale; x++ {
					line[x] = 1
				}
			}
		}
		for y := y0 + 1; y < y0+scale; y++ {
			copy(img.Pix[y*img.Stride:y*img.Stride+size], line)
		}
	}
	var buf bytes.Buffer
	buf.Grow(2048)
	if err := encoder.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("qrcode: encode png: %w", err)
	}
	return buf.Bytes(), nil
}
