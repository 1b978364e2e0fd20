package alipay

import (
	"fmt"
	"strings"

	"github.com/o2ohub/o2ohub/internal/cn"
)

// Fen reads one of Alipay's yuan strings exactly, without floating point: "12.3" → 1230. Alipay's
// amounts carry no sign, so a negative one is refused; amounts are written with cn.Yuan.
func Fen(yuan string) (int64, error) {
	fen, err := cn.Fen(yuan)
	if err != nil || strings.HasPrefix(yuan, "-") {
		return 0, fmt.Errorf("alipay: %q is not an amount in yuan", yuan)
	}
	return fen, nil
}
