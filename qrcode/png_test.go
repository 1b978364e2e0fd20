package qrcode

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/png"
	"strings"
	"testing"

	"github.com/makiuchi-d/gozxing"
	zxqr "github.com/makiuchi-d/gozxing/qrcode"
	goqr "github.com/skip2/go-qrcode"
)

// decodeQR reads a QR code out of a PNG with gozxing, an independent reader.
func decodeQR(t testing.TB, b []byte) (string, image.Image) {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("png.Decode: %v", err)
	}
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		t.Fatalf("NewBinaryBitmapFromImage: %v", err)
	}
	res, err := zxqr.NewQRCodeReader().Decode(bmp, nil)
	if err != nil {
		// gozxing's finder-pattern detector misses about one symbol in 700 that other readers (zbar) read;
		// reading the image as a pure barcode still checks every module of the content.
		var perr error
		res, perr = zxqr.NewQRCodeReader().Decode(bmp, map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_PURE_BARCODE: true})
		if perr != nil {
			t.Fatalf("gozxing could not read the QR code: %v; as a pure barcode: %v", err, perr)
		}
	}
	return res.GetText(), img
}

func isWhite(img image.Image, x, y int) bool {
	r, g, b, _ := img.At(x, y).RGBA()
	return r == 0xffff && g == 0xffff && b == 0xffff
}

func TestPNGReadsBack(t *testing.T) {
	contents := []string{
		"https://hub.example.com/q/7K2M9XQ4",
		"https://o2o.example-chain.com.cn/q/00000000",
		"http://localhost:8080/q/ZZZZZZZZ",
		"https://hub.example.com/q/7K2M9XQ4?s=store-001&from=shelf",
		"HTTPS://HUB.EXAMPLE.COM/Q/7K2M9XQ4",
		"x",
	}
	for _, c := range contents {
		for _, size := range []int{MinSize, 256, 333, DefaultSize, MaxSize} {
			t.Run(fmt.Sprintf("%s/%d", c, size), func(t *testing.T) {
				b, err := PNG(c, size)
				if err != nil {
					t.Fatal(err)
				}
				got, img := decodeQR(t, b)
				if got != c {
					t.Errorf("read back %q, want %q", got, c)
				}
				if bd := img.Bounds(); bd.Dx() != size || bd.Dy() != size || bd.Min != (image.Point{}) {
					t.Errorf("bounds %v, want %dx%d", bd, size, size)
				}
			})
		}
	}
}

func TestPNGSizeClamps(t *testing.T) {
	tests := []struct{ in, want int }{
		{-5, DefaultSize},
		{0, DefaultSize},
		{1, MinSize},
		{MinSize - 1, MinSize},
		{MinSize, MinSize},
		{300, 300},
		{MaxSize, MaxSize},
		{MaxSize + 1, MaxSize},
		{100000, MaxSize},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.in), func(t *testing.T) {
			b, err := PNG("https://hub.example.com/q/7K2M9XQ4", tt.in)
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := png.DecodeConfig(bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Width != tt.want || cfg.Height != tt.want {
				t.Errorf("PNG(_, %d) is %dx%d, want %dx%d", tt.in, cfg.Width, cfg.Height, tt.want, tt.want)
			}
		})
	}
}

// TestPNGQuietZone checks the standard 4-module white border: every pixel in the outer 4 modules is
// white, and the finder pattern starts right after it (so modules are whole pixels, not smeared).
func TestPNGQuietZone(t *testing.T) {
	for _, c := range []string{"https://hub.example.com/q/7K2M9XQ4", strings.Repeat("https://hub.example.com/", 8)} {
		for _, size := range []int{MinSize, 256, 500, DefaultSize, 1000} {
			t.Run(fmt.Sprintf("%d/%d", len(c), size), func(t *testing.T) {
				b, err := PNG(c, size)
				if err != nil {
					t.Fatal(err)
				}
				img, err := png.Decode(bytes.NewReader(b))
				if err != nil {
					t.Fatal(err)
				}
				q, err := goqr.New(c, goqr.High)
				if err != nil {
					t.Fatal(err)
				}
				n := len(q.Bitmap()) // modules including the quiet zone
				scale := size / n
				if scale < 1 {
					t.Fatalf("n=%d modules do not fit in %d pixels", n, size)
				}
				off := (size - n*scale) / 2
				lo, hi := off+4*scale, off+(n-4)*scale // the symbol proper is [lo, hi)
				if lo < 4*scale || size-hi < 4*scale {
					t.Fatalf("quiet zone %d/%d px, want at least %d", lo, size-hi, 4*scale)
				}
				for y := range size {
					for x := range size {
						inBorder := x < lo || y < lo || x >= hi || y >= hi
						if inBorder && !isWhite(img, x, y) {
							t.Fatalf("pixel (%d,%d) in the quiet zone [0,%d)∪[%d,%d) is not white", x, y, lo, hi, size)
						}
					}
				}
				// The three finder patterns' outer corners sit exactly at the quiet zone's edge.
				for _, p := range [][2]int{{lo, lo}, {lo + scale - 1, lo + scale - 1}, {hi - 1, lo}, {lo, hi - 1}} {
					if isWhite(img, p[0], p[1]) {
						t.Errorf("finder corner pixel %v is white", p)
					}
				}
			})
		}
	}
}

func TestPNGErrors(t *testing.T) {
	if _, err := PNG("", 256); !errors.Is(err, ErrEmpty) {
		t.Errorf("PNG(\"\") error = %v, want ErrEmpty", err)
	}
	if _, err := PNG(strings.Repeat("a", 3000), 256); !errors.Is(err, ErrTooLong) {
		t.Errorf("PNG(3000 bytes) error = %v, want ErrTooLong", err)
	}
	// 1000 bytes fit (version 40 at level High is 185 modules with the quiet zone), but not in 128 pixels.
	long := strings.Repeat("b", 1000)
	if _, err := PNG(long, MinSize); !errors.Is(err, ErrTooLong) {
		t.Errorf("PNG(1000 bytes, %d) error = %v, want ErrTooLong", MinSize, err)
	}
	b, err := PNG(long, MaxSize)
	if err != nil {
		t.Fatalf("PNG(1000 bytes, %d): %v", MaxSize, err)
	}
	if got, _ := decodeQR(t, b); got != long {
		t.Errorf("1000-byte content did not read back")
	}
}

func TestPNGConcurrent(t *testing.T) {
	// The encoder's shared buffer pool must be safe for the sheet's workers.
	t.Parallel()
	done := make(chan error, 8)
	for i := range 8 {
		go func() {
			want := fmt.Sprintf("https://hub.example.com/q/%08d", i)
			for range 20 {
				b, err := PNG(want, 256)
				if err != nil {
					done <- err
					return
				}
				img, err := png.Decode(bytes.NewReader(b))
				if err != nil {
					done <- err
					return
				}
				bmp, _ := gozxing.NewBinaryBitmapFromImage(img)
				res, err := zxqr.NewQRCodeReader().Decode(bmp, nil)
				if err != nil {
					done <- err
					return
				}
				if res.GetText() != want {
					done <- fmt.Errorf("read %q, want %q", res.GetText(), want)
					return
				}
			}
			done <- nil
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

func BenchmarkPNG(b *testing.B) {
	const url = "https://hub.example.com/q/7K2M9XQ4"
	var n, bytes int
	for b.Loop() {
		p, err := PNG(url, DefaultSize)
		if err != nil {
			b.Fatal(err)
		}
		n++
		bytes = len(p)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "PNGs/s")
	b.ReportMetric(float64(bytes), "B/png")
}
