package store

import (
	"errors"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgtype"
)

// uuidCodec teaches pgx to move uuid.UUID values as the 16 raw bytes of PostgreSQL's binary
// uuid format. Without it pgx goes through database/sql's Valuer and Scanner interfaces, which
// format and parse every id as text: a measurable share of a request's CPU when every query
// carries a tenant id and returns ids.
type uuidCodec struct{ pgtype.UUIDCodec }

func (c uuidCodec) PlanEncode(m *pgtype.Map, oid uint32, format int16, value any) pgtype.EncodePlan {
	if _, ok := value.(uuid.UUID); ok && format == pgtype.BinaryFormatCode {
		return encodeUUIDBinary{}
	}
	return c.UUIDCodec.PlanEncode(m, oid, format, value)
}

func (c uuidCodec) PlanScan(m *pgtype.Map, oid uint32, format int16, target any) pgtype.ScanPlan {
	if _, ok := target.(*uuid.UUID); ok && format == pgtype.BinaryFormatCode {
		return scanUUIDBinary{}
	}
	return c.UUIDCodec.PlanScan(m, oid, format, target)
}

type encodeUUIDBinary struct{}

func (encodeUUIDBinary) Encode(value any, buf []byte) ([]byte, error) {
	u := value.(uuid.UUID)
	return append(buf, u[:]...), nil
}

type scanUUIDBinary struct{}

func (scanUUIDBinary) Scan(src []byte, dst any) error {
	if src == nil {
		return errors.New("cannot scan NULL into uuid.UUID")
	}
	if len(src) != 16 {
		return errors.New("invalid length for uuid")
	}
	copy(dst.(*uuid.UUID)[:], src)
	return nil
}

// RegisterTypes installs the store's codecs on a connection's type map. The store does it for
// every connection it opens; the isolation benchmark does it for its bare pool, so that both
// sides decode rows with the same code.
func RegisterTypes(m *pgtype.Map) { registerUUID(m) }

// registerUUID installs uuidCodec on a connection's type map.
func registerUUID(m *pgtype.Map) {
	m.RegisterType(&pgtype.Type{Name: "uuid", OID: pgtype.UUIDOID, Codec: uuidCodec{}})
}
