package shelf

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/o2ohub/o2ohub/core/catalog"
	"github.com/o2ohub/o2ohub/core/domain"
	"github.com/o2ohub/o2ohub/internal/cn"
	"github.com/o2ohub/o2ohub/models"
	"gorm.io/gorm/clause"
)

// TraceStepInput is one step of a batch's journey; Date is YYYY-MM-DD.
type TraceStepInput struct {
	Step     string `json:"step"`
	Date     string `json:"date"`
	Place    string `json:"place"`
	Document string `json:"document"`
}

// TraceBatchInput is a batch and its journey so far.
type TraceBatchInput struct {
	BatchNo string           `json:"-"`
	SKU     string           `json:"sku"`
	Steps   []TraceStepInput `json:"steps"`
}

// TraceView is a batch's journey as a scan shows it.
type TraceView struct {
	BatchNo string          `json:"batch_no"`
	SKU     string          `json:"sku"`
	Steps   []TraceStepView `json:"steps"`
}

// TraceStepView is one step of a journey.
type TraceStepView struct {
	Step     string `json:"step"`
	Date     string `json:"date"`
	Place    string `json:"place,omitempty"`
	Document string `json:"document,omitempty"`
}

// PutTraceBatch creates or replaces a batch and its journey (steps in journey order, dates not going
// back in time).
func (s *Service) PutTraceBatch(ctx context.Context, in TraceBatchInput) (TraceView, error) {
	if !catalog.ValidSKU(in.BatchNo) {
		return TraceView{}, domain.Errf(domain.ErrInvalidArgument, "batch number must be 1-64 letters, digits, '.', '_' or '-'")
	}
	if len(in.Steps) > 20 {
		return TraceView{}, domain.Errf(domain.ErrInvalidArgument, "a journey has at most 20 steps")
	}
	p, err := s.catalog.ProductBySKU(ctx, in.SKU)
	if err != nil {
		return TraceView{}, err
	}
	steps := make([]models.TraceStep, len(in.Steps))
	var last time.Time
	lastStep := 0
	for i, st := range in.Steps {
		n := stepIndex(st.Step)
		if n < 0 {
			return TraceView{}, domain.Errf(domain.ErrInvalidArgument, "step %d: step must be one of %s", i+1, strings.Join(traceSteps, ", "))
		}
		if n < lastStep {
			return TraceView{}, domain.Errf(domain.ErrInvalidArgument, "step %d: %s cannot come after %s (the journey is %s)", i+1, st.Step, traceSteps[lastStep], strings.Join(traceSteps, " → "))
		}
		lastStep = n
		d, err := time.Parse("2006-01-02", st.Date)
		if err != nil {
			return TraceView{}, domain.Errf(domain.ErrInvalidArgument, "step %d: date must be YYYY-MM-DD", i+1)
		}
		if d.Before(earliestTraceDate) {
			return TraceView{}, domain.Errf(domain.ErrInvalidArgument, "step %d: date %s is before %s", i+1, st.Date, earliestTraceDate.Format("2006-01-02"))
		}
		if latest := latestTraceDate(s.Now()); d.After(latest) {
			return TraceView{}, domain.Errf(domain.ErrInvalidArgument, "step %d: date %s is in the future (at most %s)", i+1, st.Date, latest.Format("2006-01-02"))
		}
		if d.Before(last) {
			return TraceView{}, domain.Errf(domain.ErrInvalidArgument, "step %d: dates must not go back in time", i+1)
		}
		if utf8.RuneCountInString(st.Place) > 100 || utf8.RuneCountInString(st.Document) > 100 {
			return TraceView{}, domain.Errf(domain.ErrInvalidArgument, "step %d: place and document must be at most 100 characters", i+1)
		}
		last = d
		steps[i] = models.TraceStep{Step: st.Step, HappenedOn: d, Place: strings.TrimSpace(st.Place), Document: strings.TrimSpace(st.Document)}
	}
	err = s.DB.Tx(ctx, func(ctx context.Context) error {
		tx := s.DB.Conn(ctx)
		now := s.Now()
		b := models.TraceBatch{BatchNo: in.BatchNo, ProductID: p.ID, CreatedAt: now, UpdatedAt: now}
		err := tx.Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "batch_no"}},
			DoUpdates: clause.AssignmentColumns([]string{"product_id", "updated_at"})}).Create(&b).Error
		if err != nil {
			return err
		}
		if err := tx.Where("batch_no = ?", in.BatchNo).Take(&b).Error; err != nil {
			return err
		}
		if err := tx.Where("batch_id = ?", b.ID).Delete(&models.TraceStep{}).Error; err != nil {
			return err
		}
		for i := range steps {
			steps[i].BatchID = b.ID
			if err := tx.Create(&steps[i]).Error; err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return TraceView{}, err
	}
	return s.traceView(ctx, in.BatchNo)
}

// earliestTraceDate is the earliest date a trace step may carry: older dates are typing mistakes.
var earliestTraceDate = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// latestTraceDate is the latest date a trace step may carry at now: a journey records what happened, so
// a step may be dated at most one day after today in China (a day of slack for clocks and time zones).
func latestTraceDate(now time.Time) time.Time {
	y, m, d := now.In(cn.Zone).Date()
	return time.Date(y, m, d+1, 0, 0, 0, 0, time.UTC)
}

// stepIndex is a step's place in the journey, -1 for an unknown step.
func stepIndex(step string) int {
	for i, s := range traceSteps {
		if s == step {
			return i
		}
	}
	return -1
}

func (s *Service) batchByNo(ctx context.Context, batchNo string) (models.TraceBatch, error) {
	var b models.TraceBatch
	err := s.DB.Conn(ctx).Where("batch_no = ?", batchNo).Take(&b).Error
	if models.IsNotFound(err) {
		return b, domain.Errf(domain.ErrNotFound, "batch %q not found", batchNo)
	}
	return b, err
}

func (s *Service) traceView(ctx context.Context, batchNo string) (TraceView, error) {
	b, err := s.batchByNo(ctx, batchNo)
	if err != nil {
		return TraceView{}, err
	}
	var p models.Product
	if err := s.DB.Conn(ctx).Take(&p, b.ProductID).Error; err != nil {
		return TraceView{}, err
	}
	var steps []models.TraceStep
	if err := s.DB.Conn(ctx).Where("batch_id = ?", b.ID).Order("happened_on, id").Find(&steps).Error; err != nil {
		return TraceView{}, err
	}
	v := TraceView{BatchNo: b.BatchNo, SKU: p.SKU, Steps: []TraceStepView{}}
	for _, st := range steps {
		v.Steps = append(v.Steps, TraceStepView{Step: st.Step, Date: st.HappenedOn.Format("2006-01-02"), Place: st.Place, Document: st.Document})
	}
	return v, nil
}

// MaxUnitCodes is the most unit codes made in one call.
const MaxUnitCodes = 1000

// TraceUnitCodes makes count codes for single units of a batch (numbered on from the batch's last unit),
// optionally at a store.
func (s *Service) TraceUnitCodes(ctx context.Context, batchNo, storeCode string, count int) ([]QRView, error) {
	if count < 1 || count > MaxUnitCodes {
		return nil, domain.Errf(domain.ErrInvalidArgument, "count must be 1-%d", MaxUnitCodes)
	}
	b, err := s.batchByNo(ctx, batchNo)
	if err != nil {
		return nil, err
	}
	var storeID *int64
	if storeCode != "" {
		st, err := s.catalog.StoreByCode(ctx, storeCode)
		if err != nil {
			return nil, err
		}
		storeID = &st.ID
	}
	out := make([]QRView, 0, count)
	err = s.DB.Tx(ctx, func(ctx context.Context) error {
		out = out[:0]
		// The batch row is the lock that keeps unit numbers unique under concurrent calls.
		if err := s.DB.Conn(ctx).Clauses(models.ForUpdate()).Take(&b, b.ID).Error; err != nil {
			return err
		}
		var last string
		if err := s.DB.Conn(ctx).Model(&models.QRCode{}).Where("batch_id = ? AND unit <> ''", b.ID).
			Select("COALESCE(MAX(unit), '')").Scan(&last).Error; err != nil {
			return err
		}
		var n int64
		fmt.Sscanf(last, "%d", &n)
		for i := 1; i <= count; i++ {
			row := models.QRCode{Kind: QRTrace, StoreID: storeID, ProductID: &b.ProductID, BatchID: &b.ID, Unit: fmt.Sprintf("%06d", n+int64(i))}
			if err := s.insertCode(ctx, &row); err != nil {
				return err
			}
			v, err := s.qrView(ctx, row)
			if err != nil {
				return err
			}
			out = append(out, v)
		}
		return nil
	})
	return out, err
}
