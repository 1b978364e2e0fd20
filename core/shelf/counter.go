package shelf

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/o2ohub/o2ohub/internal/cn"
	"github.com/o2ohub/o2ohub/models"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

type scanCounter struct {
	mu     sync.Mutex
	counts map[scanKey]int64
}

type scanKey struct {
	codeID  int64
	day     string
	channel string
}

func (c *scanCounter) add(codeID int64, at time.Time, channel string) {
	k := scanKey{codeID, at.In(cn.Zone).Format("2006-01-02"), channel}
	c.mu.Lock()
	if c.counts == nil {
		c.counts = map[scanKey]int64{}
	}
	c.counts[k]++
	c.mu.Unlock()
}

func (c *scanCounter) take() map[scanKey]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.counts
	c.counts = nil
	return out
}

// FlushScans writes the scans counted in memory to the database, adding to what other replicas wrote.
// Counts it cannot write are kept for the next flush.
func (s *Service) FlushScans(ctx context.Context, _ int) (int, error) {
	counts := s.scans.take()
	var errs []error
	for k, n := range counts {
		err := s.DB.Conn(ctx).Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "code_id"}, {Name: "day"}, {Name: "channel"}},
			DoUpdates: clause.Assignments(map[string]any{"count": gorm.Expr("qr_scans.count + excluded.count")})}).
			Create(&models.QRScan{CodeID: k.codeID, Day: k.day, Channel: k.channel, Count: n}).Error
		if err != nil {
			errs = append(errs, err)
			s.scans.mu.Lock()
			if s.scans.counts == nil {
				s.scans.counts = map[scanKey]int64{}
			}
			s.scans.counts[k] += n
			s.scans.mu.Unlock()
		}
	}
	return len(counts), errors.Join(errs...)
}
