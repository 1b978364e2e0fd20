package domain

import "gorm.io/gorm"

// DefaultPage is how many rows a page holds when its caller does not say.
const DefaultPage = 20

// NewestFirst reads one page of the rows of T that q selects, newest (largest id) first: up to limit rows
// (DefaultPage when 0, most at most) with an id below before (from the newest when 0). next is the id to
// ask before for the following page, 0 when this page is the last.
func NewestFirst[T any](q *gorm.DB, before int64, limit, most int, id func(*T) int64) (rows []T, next int64, err error) {
	if limit <= 0 {
		limit = DefaultPage
	}
	limit = min(limit, most)
	if before > 0 {
		q = q.Where("id < ?", before)
	}
	if err := q.Order("id DESC").Limit(limit + 1).Find(&rows).Error; err != nil {
		return nil, 0, err
	}
	if len(rows) > limit {
		rows = rows[:limit]
		next = id(&rows[limit-1])
	}
	return rows, next, nil
}
