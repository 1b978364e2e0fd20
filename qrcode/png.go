package qrcode

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
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
// of the symbol may be lost, as printed labels get scratched and stained; level Q in ISO/IEC 18004),
// and the standard quiet zone of 4 modules is kept on every side. Each module is drawn as a whole
// number of pixels so edges stay sharp; the pixels left over are added to the white margin, which
// therefore may be a little wider than 4 modules. The image is a 1-bit grayscale PNG. It returns
// ErrEmpty for empty content and ErrTooLong when the content does not fit. PNG is safe for
// concurrent use.
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
	return encodePNG(bitmap, size, scale, (size-n*scale)/2)
}

var pngSignature = []byte("\x89PNG\r\n\x1a\n")

// zlibWriters reuses compressors: a fresh one allocates about half a megabyte, which would dominate
// a sheet of thousands of labels.
var zlibWriters = sync.Pool{New: func() any {
	w, _ := zlib.NewWriterLevel(nil, zlib.BestSpeed) // only fails for a bad level
	return w
}}

// encodePNG writes bitmap (true = dark module) as a size×size 1-bit grayscale PNG, each module scale
// pixels square, the symbol offset by off pixels from the top and left. Pixel rows within a module row
// are identical, so each is packed once and repeated; deflate turns the repeats into back-references.
// image/png's generic path costs a ColorIndexAt call per pixel, which made it most of the time spent.
func encodePNG(bitmap [][]bool, size, scale, off int) ([]byte, error) {
	stride := 1 + (size+7)/8 // filter byte (0 = none) + packed pixels, 1 = white
	blank := make([]byte, stride)
	for i := 1; i < stride; i++ {
		blank[i] = 0xff
	}
	row := make([]byte, stride)

	var idat bytes.Buffer
	idat.Grow(4096)
	zw := zlibWriters.Get().(*zlib.Writer)
	defer zlibWriters.Put(zw)
	zw.Reset(&idat)
	write := func(b []byte, times int) {
		for range times {
			zw.Write(b) // writes to a bytes.Buffer cannot fail
		}
	}
	write(blank, off)
	for _, modules := range bitmap {
		copy(row, blank)
		for mx, dark := range modules {
			if !dark {
				continue
			}
			for x := off + mx*scale; x < off+(mx+1)*scale; x++ {
				row[1+x>>3] &^= 0x80 >> (x & 7)
			}
		}
		write(row, scale)
	}
	write(blank, size-off-len(bitmap)*scale)
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("qrcode: compress png: %w", err)
	}

	out := bytes.NewBuffer(make([]byte, 0, len(pngSignature)+3*12+13+idat.Len()))
	out.Write(pngSignature)
	var ihdr [13]byte
	binary.BigEndian.PutUint32(ihdr[0:], uint32(size))
	binary.BigEndian.PutUint32(ihdr[4:], uint32(size))
	ihdr[8], ihdr[9] = 1, 0 // bit depth 1, colour type 0 (grayscale); compression, filter, interlace 0
	writeChunk(out, "IHDR", ihdr[:])
	writeChunk(out, "IDAT", idat.Bytes())
	writeChunk(out, "IEND", nil)
	return out.Bytes(), nil
}

// writeChunk appends one PNG chunk: length, type, data, CRC-32 of type and data.
func writeChunk(out *bytes.Buffer, typ string, data []byte) {
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(data)))
	out.Write(n[:])
	out.WriteString(typ)
	out.Write(data)
	crc := crc32.NewIEEE()
	crc.Write([]byte(typ))
	crc.Write(data)
	binary.BigEndian.PutUint32(n[:], crc.Sum32())
	out.Write(n[:])
}
