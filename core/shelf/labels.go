package shelf

import (
	"context"

	"github.com/o2ohub/o2ohub/qrcode"
)

// LabelSheet returns the printable label sheet of a store: every product it stocks with its shelf code,
// making the codes it lacks.
func (s *Service) LabelSheet(ctx context.Context, storeCode string) (qrcode.Sheet, error) {
	st, err := s.catalog.StoreByCode(ctx, storeCode)
	if err != nil {
		return qrcode.Sheet{}, err
	}
	codes, err := s.StoreQRCodes(ctx, storeCode)
	if err != nil {
		return qrcode.Sheet{}, err
	}
	sheet := qrcode.Sheet{StoreName: st.Name, StoreCode: st.Code, GeneratedAt: s.Now(), Labels: make([]qrcode.Label, len(codes))}
	for i, c := range codes {
		sheet.Labels[i] = qrcode.Label{Name: c.ProductName, SKU: c.SKU, PriceFen: c.PriceFen, URL: c.URL, Code: c.Code}
	}
	return sheet, nil
}
