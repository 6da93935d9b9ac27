package tpch

import (
	"math"
	"strconv"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
)

// Row generators, one per table, following dbgen's streams and rules (TPC-H
// spec clause 4.2.3). Each generates the base rows [start, start+n) of its
// table (0-based; base rows are orders for lineitem and parts for partsupp)
// into a record builder: every stream is jumped to row start first, so
// chunks are independent and can be generated in parallel.

// Dates are day numbers counted from 1992-01-01 (STARTDATE) while generating.
const (
	epochDay1992 = 8035 // 1992-01-01 as days since 1970-01-01 (arrow date32)
	totalDays    = 2557 // 1992-01-01 .. 1998-12-31
	currentDay   = 1263 // CURRENTDATE 1995-06-17
	shipDaysMax  = 121
	receiptMax   = 30
	orderDateMax = totalDays - (shipDaysMax + receiptMax) - 1 // ENDDATE - 151 days
	linesMax     = 7
	suppPerPart  = 4
	bbbBase      = 10000 // "Customer ... Complaints/Recommends" odds base
	bbbComments  = 10    // rows per bbbBase that get a BBB comment
	bbbPercent   = 50    // percent of those that are complaints
	nationsMax   = 90    // phone country codes are 10 + nationkey % 90
)

const alnumChars = "0123456789abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ,"

// genEnv holds what every generator needs for one scale factor.
type genEnv struct {
	text     *textPool
	nSupp    int64
	nCust    int64
	nPart    int64
	nOrders  int64
	maxClerk int32
	use64    bool // 64-bit key streams (SF >= 30000), as dbgen
}

// scaledRows is dbgen's row count for a table of base rows at SF sf, with at
// least one row.
func scaledRows(base int64, sf float64) int64 {
	n := int64(float64(base) * sf)
	if n < 1 {
		n = 1
	}
	return n
}

func newGenEnv(sf float64, text *textPool) *genEnv {
	return &genEnv{
		text:     text,
		nSupp:    scaledRows(10000, sf),
		nCust:    scaledRows(150000, sf),
		nPart:    scaledRows(200000, sf),
		nOrders:  scaledRows(1500000, sf),
		maxClerk: int32(math.Max(sf*1000, 1000)),
		use64:    sf >= 30000,
	}
}

// orderKey maps the 1-based order index to the sparse key: 8 keys used in
// every 32.
func orderKey(idx int64) int64 {
	return (idx>>3)<<5 + idx&7
}

// partPrice is p_retailprice in cents (spec 4.2.3).
func partPrice(pk int64) int64 {
	return 90000 + (pk/10)%20001 + (pk%1000)*100
}

// partSupplier is the suppkey of the n-th (0..3) supplier of part pk.
func partSupplier(pk, n, nSupp int64) int64 {
	return (pk+n*(nSupp/suppPerPart+(pk-1)/nSupp))%nSupp + 1
}

func inPast(day int32) bool { return day <= currentDay }

func appendPadded(b []byte, v int64, width int) []byte {
	var tmp [20]byte
	s := strconv.AppendInt(tmp[:0], v, 10)
	for i := len(s); i < width; i++ {
		b = append(b, '0')
	}
	return append(b, s...)
}

// appendAlnum appends dbgen's random address string: 6 bits per character,
// 5 characters per draw, 9 draws per row.
func appendAlnum(b []byte, r *rowRand, avg int32) []byte {
	n := r.intn(int32(float64(avg)*0.4), int32(float64(avg)*1.6))
	var ci int64
	for i := int32(0); i < n; i++ {
		if i%5 == 0 {
			ci = int64(r.intn(0, math.MaxInt32))
		}
		b = append(b, alnumChars[ci&0x3f])
		ci >>= 6
	}
	return b
}

func appendPhone(b []byte, r *rowRand, nation int64) []byte {
	b = appendPadded(b, 10+nation%nationsMax, 2)
	b = append(b, '-')
	b = appendPadded(b, int64(r.intn(100, 999)), 3)
	b = append(b, '-')
	b = appendPadded(b, int64(r.intn(100, 999)), 3)
	b = append(b, '-')
	return appendPadded(b, int64(r.intn(1000, 9999)), 4)
}

// Typed access to the builders of a record builder.
func i32(rb *array.RecordBuilder, i int) *array.Int32Builder {
	return rb.Field(i).(*array.Int32Builder)
}
func i64(rb *array.RecordBuilder, i int) *array.Int64Builder {
	return rb.Field(i).(*array.Int64Builder)
}
func str(rb *array.RecordBuilder, i int) *array.BinaryBuilder {
	return rb.Field(i).(*array.StringBuilder).BinaryBuilder
}
func dec(rb *array.RecordBuilder, i int) *array.Decimal128Builder {
	return rb.Field(i).(*array.Decimal128Builder)
}
func date(rb *array.RecordBuilder, i int) *array.Date32Builder {
	return rb.Field(i).(*array.Date32Builder)
}

// reserve sizes every builder for n rows, and string data for avg bytes per
// row per string column.
func reserve(rb *array.RecordBuilder, n int64, avg int) {
	for _, f := range rb.Fields() {
		f.Reserve(int(n))
		if sb, ok := f.(*array.StringBuilder); ok {
			sb.ReserveData(int(n) * avg)
		}
	}
}

func cents(v int64) decimal128.Num { return decimal128.FromI64(v) }

func day(d int32) arrow.Date32 { return arrow.Date32(epochDay1992 + d) }

func genRegion(e *genEnv, rb *array.RecordBuilder, start, n int64) {
	key, name, cmt := i32(rb, 0), str(rb, 1), str(rb, 2)
	c := newRandomText(1500869201, e.text, 72, 1)
	c.advanceRows(start)
	for i := start; i < start+n; i++ {
		key.Append(int32(i))
		name.Append([]byte(distRegions[i].value))
		cmt.Append(c.next())
		c.rowFinished()
	}
}

func genNation(e *genEnv, rb *array.RecordBuilder, start, n int64) {
	key, name, reg, cmt := i32(rb, 0), str(rb, 1), i32(rb, 2), str(rb, 3)
	regions := nationRegion()
	c := newRandomText(606179079, e.text, 72, 1)
	c.advanceRows(start)
	for i := start; i < start+n; i++ {
		key.Append(int32(i))
		name.Append([]byte(distNations[i].value))
		reg.Append(regions[i])
		cmt.Append(c.next())
		c.rowFinished()
	}
}

func genSupplier(e *genEnv, rb *array.RecordBuilder, start, n int64) {
	reserve(rb, n, 40)
	key, name, addr, nat, phone, bal, cmt := i32(rb, 0), str(rb, 1), str(rb, 2), i32(rb, 3), str(rb, 4), dec(rb, 5), str(rb, 6)
	addrR := newRowRand(706178559, 9)
	natR := newRowRand(110356601, 1)
	phoneR := newRowRand(884434366, 3)
	balR := newRowRand(962338209, 1)
	cmtR := newRandomText(1341315363, e.text, 63, 1)
	bbbR := newRowRand(202794285, 1)
	junkR := newRowRand(263032577, 1)
	offR := newRowRand(715851524, 1)
	typeR := newRowRand(753643799, 1)
	streams := []*rowRand{&addrR, &natR, &phoneR, &balR, &cmtR.r, &bbbR, &junkR, &offR, &typeR}
	for _, s := range streams {
		s.advanceRows(start)
	}
	var buf, cbuf []byte
	for sk := start + 1; sk <= start+n; sk++ {
		key.Append(int32(sk))
		buf = appendPadded(append(buf[:0], "Supplier#"...), sk, 9)
		name.Append(buf)

		comment := cmtR.next()
		if bbbR.intn(1, bbbBase) <= bbbComments {
			// Embed "Customer ...Complaints" (or Recommends) at a random
			// place, keeping the length (spec 4.2.3, S_COMMENT).
			const base = "Customer "
			kind := "Complaints"
			noise := junkR.intn(0, int32(len(comment)-len(base)-len(kind)))
			off := offR.intn(0, int32(len(comment))-(int32(len(base)+len(kind))+noise))
			if typeR.intn(0, 100) >= bbbPercent {
				kind = "Recommends"
			}
			cbuf = append(cbuf[:0], comment...)
			o := int(off)
			copy(cbuf[o:], base)
			copy(cbuf[o+len(base)+int(noise):], kind)
			comment = cbuf
		}

		nk := int64(natR.intn(0, int32(len(distNations)-1)))
		buf = appendAlnum(buf[:0], &addrR, 25)
		addr.Append(buf)
		nat.Append(int32(nk))
		buf = appendPhone(buf[:0], &phoneR, nk)
		phone.Append(buf)
		bal.Append(cents(int64(balR.intn(-99999, 999999))))
		cmt.Append(comment)
		for _, s := range streams {
			s.rowFinished()
		}
	}
}

func genCustomer(e *genEnv, rb *array.RecordBuilder, start, n int64) {
	reserve(rb, n, 40)
	key, name, addr, nat, phone, bal, seg, cmt := i32(rb, 0), str(rb, 1), str(rb, 2), i32(rb, 3), str(rb, 4), dec(rb, 5), str(rb, 6), str(rb, 7)
	addrR := newRowRand(881155353, 9)
	natR := newRowRand(1489529863, 1)
	phoneR := newRowRand(1521138112, 3)
	balR := newRowRand(298370230, 1)
	segR := newRowRand(1140279430, 1)
	cmtR := newRandomText(1335826707, e.text, 73, 1)
	streams := []*rowRand{&addrR, &natR, &phoneR, &balR, &segR, &cmtR.r}
	for _, s := range streams {
		s.advanceRows(start)
	}
	var buf []byte
	for ck := start + 1; ck <= start+n; ck++ {
		key.Append(int32(ck))
		buf = appendPadded(append(buf[:0], "Customer#"...), ck, 9)
		name.Append(buf)
		nk := int64(natR.intn(0, int32(len(distNations)-1)))
		buf = appendAlnum(buf[:0], &addrR, 25)
		addr.Append(buf)
		nat.Append(int32(nk))
		buf = appendPhone(buf[:0], &phoneR, nk)
		phone.Append(buf)
		bal.Append(cents(int64(balR.intn(-99999, 999999))))
		seg.Append(dSegments.values[dSegments.pick(&segR)])
		cmt.Append(cmtR.next())
		for _, s := range streams {
			s.rowFinished()
		}
	}
}

func genPart(e *genEnv, rb *array.RecordBuilder, start, n int64) {
	reserve(rb, n, 25)
	key, name, mfgr, brand, typ, size, cont, price, cmt := i32(rb, 0), str(rb, 1), str(rb, 2), str(rb, 3), str(rb, 4), i32(rb, 5), str(rb, 6), dec(rb, 7), str(rb, 8)
	nameR := newRowRand(709314158, int32(len(distColors)))
	mfgrR := newRowRand(1, 1)
	brandR := newRowRand(46831694, 1)
	typeR := newRowRand(1841581359, 1)
	sizeR := newRowRand(1193163244, 1)
	contR := newRowRand(727633698, 1)
	cmtR := newRandomText(804159733, e.text, 14, 1)
	streams := []*rowRand{&nameR, &mfgrR, &brandR, &typeR, &sizeR, &contR, &cmtR.r}
	for _, s := range streams {
		s.advanceRows(start)
	}
	perm := make([]int32, len(distColors))
	var buf []byte
	for pk := start + 1; pk <= start+n; pk++ {
		key.Append(int32(pk))
		// p_name: 5 distinct colors, a partial Fisher–Yates shuffle.
		for i := range perm {
			perm[i] = int32(i)
		}
		buf = buf[:0]
		for i := int32(0); i < 5; i++ {
			j := nameR.intn(i, int32(len(perm)-1))
			perm[i], perm[j] = perm[j], perm[i]
			if i > 0 {
				buf = append(buf, ' ')
			}
			buf = append(buf, distColors[perm[i]].value...)
		}
		name.Append(buf)
		m := int64(mfgrR.intn(1, 5))
		buf = appendPadded(append(buf[:0], "Manufacturer#"...), m, 1)
		mfgr.Append(buf)
		buf = appendPadded(append(buf[:0], "Brand#"...), m*10+int64(brandR.intn(1, 5)), 1)
		brand.Append(buf)
		typ.Append(dTypes.values[dTypes.pick(&typeR)])
		size.Append(sizeR.intn(1, 50))
		cont.Append(dContainers.values[dContainers.pick(&contR)])
		price.Append(cents(partPrice(pk)))
		cmt.Append(cmtR.next())
		for _, s := range streams {
			s.rowFinished()
		}
	}
}

func genPartsupp(e *genEnv, rb *array.RecordBuilder, start, n int64) {
	reserve(rb, n*suppPerPart, 124)
	pkey, skey, qty, cost, cmt := i32(rb, 0), i32(rb, 1), i32(rb, 2), dec(rb, 3), str(rb, 4)
	qtyR := newRowRand(1671059989, suppPerPart)
	costR := newRowRand(1051288424, suppPerPart)
	cmtR := newRandomText(1961692154, e.text, 124, suppPerPart)
	streams := []*rowRand{&qtyR, &costR, &cmtR.r}
	for _, s := range streams {
		s.advanceRows(start)
	}
	for pk := start + 1; pk <= start+n; pk++ {
		for j := int64(0); j < suppPerPart; j++ {
			pkey.Append(int32(pk))
			skey.Append(int32(partSupplier(pk, j, e.nSupp)))
			qty.Append(qtyR.intn(1, 9999))
			cost.Append(cents(int64(costR.intn(100, 100000))))
			cmt.Append(cmtR.next())
		}
		for _, s := range streams {
			s.rowFinished()
		}
	}
}

// orderStreams are the streams of orders and lineitem: the order date and
// line count, the line columns that orders replays to compute o_totalprice
// and o_orderstatus, and the columns of one table only (order or line).
type orderStreams struct {
	date, lines          rowRand
	qty, disc, tax, ship rowRand
	part                 boundedLong
	// orders only
	custKey     boundedLong
	prio, clerk rowRand
	cmt         randomText
	// lineitem only
	suppNum, commit, rcpt rowRand
	rflag, instr, mode    rowRand
	lcmt                  randomText

	all  []*rowRand
	keys []*boundedLong
}

func newOrderStreams(e *genEnv, start int64, lineitem bool) *orderStreams {
	s := &orderStreams{
		date:  newRowRand(1066728069, 1),
		lines: newRowRand(1434868289, 1),
		qty:   newRowRand(209208115, linesMax),
		disc:  newRowRand(554590007, linesMax),
		tax:   newRowRand(721958466, linesMax),
		ship:  newRowRand(1769349045, linesMax),
		part:  newBoundedLong(1808217256, e.use64, 1, e.nPart, linesMax),
	}
	s.all = []*rowRand{&s.date, &s.lines, &s.qty, &s.disc, &s.tax, &s.ship}
	s.keys = []*boundedLong{&s.part}
	if lineitem {
		s.suppNum = newRowRand(2095021727, linesMax)
		s.commit = newRowRand(904914315, linesMax)
		s.rcpt = newRowRand(373135028, linesMax)
		s.rflag = newRowRand(717419739, linesMax)
		s.instr = newRowRand(1371272478, linesMax)
		s.mode = newRowRand(675466456, linesMax)
		s.lcmt = newRandomText(1095462486, e.text, 27, linesMax)
		s.all = append(s.all, &s.suppNum, &s.commit, &s.rcpt, &s.rflag, &s.instr, &s.mode, &s.lcmt.r)
	} else {
		s.custKey = newBoundedLong(851767375, e.use64, 1, e.nCust, 1)
		s.prio = newRowRand(591449447, 1)
		s.clerk = newRowRand(1171034773, 1)
		s.cmt = newRandomText(276090261, e.text, 49, 1)
		s.all = append(s.all, &s.prio, &s.clerk, &s.cmt.r)
		s.keys = append(s.keys, &s.custKey)
	}
	for _, r := range s.all {
		r.advanceRows(start)
	}
	for _, k := range s.keys {
		k.advanceRows(start)
	}
	return s
}

func (s *orderStreams) rowFinished() {
	for _, r := range s.all {
		r.rowFinished()
	}
	for _, k := range s.keys {
		k.rowFinished()
	}
}

func genOrders(e *genEnv, rb *array.RecordBuilder, start, n int64) {
	reserve(rb, n, 50)
	okey, ckey, status, total, odate, prio, clerk, shipPrio, cmt := i64(rb, 0), i32(rb, 1), str(rb, 2), dec(rb, 3), date(rb, 4), str(rb, 5), str(rb, 6), i32(rb, 7), str(rb, 8)
	s := newOrderStreams(e, start, false)
	var buf []byte
	for idx := start + 1; idx <= start+n; idx++ {
		od := s.date.intn(0, orderDateMax)
		okey.Append(orderKey(idx))

		// Customers whose key is a multiple of 3 never order.
		ck := s.custKey.next()
		delta := int64(1)
		for ck%3 == 0 {
			ck += delta
			ck = min(ck, e.nCust)
			delta = -delta
		}
		ckey.Append(int32(ck))

		// o_totalprice and o_orderstatus come from the order's lineitems,
		// replayed from the lineitem streams.
		var sum int64
		shipped := int32(0)
		lines := s.lines.intn(1, linesMax)
		for l := int32(0); l < lines; l++ {
			q := int64(s.qty.intn(1, 50))
			d := int64(s.disc.intn(0, 10))
			t := int64(s.tax.intn(0, 8))
			pk := s.part.next()
			ext := partPrice(pk) * q
			sum += ext * (100 - d) / 100 * (100 + t) / 100
			if inPast(od + s.ship.intn(1, shipDaysMax)) {
				shipped++
			}
		}
		switch {
		case shipped == lines:
			status.Append([]byte("F"))
		case shipped > 0:
			status.Append([]byte("P"))
		default:
			status.Append([]byte("O"))
		}
		total.Append(cents(sum))
		odate.Append(day(od))
		prio.Append(dPriorities.values[dPriorities.pick(&s.prio)])
		buf = appendPadded(append(buf[:0], "Clerk#"...), int64(s.clerk.intn(1, e.maxClerk)), 9)
		clerk.Append(buf)
		shipPrio.Append(0)
		cmt.Append(s.cmt.next())
		s.rowFinished()
	}
}

func genLineitem(e *genEnv, rb *array.RecordBuilder, start, n int64) {
	reserve(rb, n*4, 30)
	okey, pkey, skey, lnum := i64(rb, 0), i32(rb, 1), i32(rb, 2), i32(rb, 3)
	qtyB, extB, discB, taxB := dec(rb, 4), dec(rb, 5), dec(rb, 6), dec(rb, 7)
	rflag, lstatus := str(rb, 8), str(rb, 9)
	shipB, commitB, rcptB := date(rb, 10), date(rb, 11), date(rb, 12)
	instr, mode, cmt := str(rb, 13), str(rb, 14), str(rb, 15)
	s := newOrderStreams(e, start, true)
	flagN, statusF, statusO := []byte("N"), []byte("F"), []byte("O")
	for idx := start + 1; idx <= start+n; idx++ {
		ok := orderKey(idx)
		od := s.date.intn(0, orderDateMax)
		lines := s.lines.intn(1, linesMax)
		for l := int32(0); l < lines; l++ {
			ship := od + s.ship.intn(1, shipDaysMax)
			q := int64(s.qty.intn(1, 50))
			d := int64(s.disc.intn(0, 10))
			t := int64(s.tax.intn(0, 8))
			pk := s.part.next()
			sk := partSupplier(pk, int64(s.suppNum.intn(0, suppPerPart-1)), e.nSupp)
			commit := od + s.commit.intn(30, 90)
			rcpt := ship + s.rcpt.intn(1, receiptMax)

			okey.Append(ok)
			pkey.Append(int32(pk))
			skey.Append(int32(sk))
			lnum.Append(l + 1)
			qtyB.Append(cents(q * 100))
			extB.Append(cents(partPrice(pk) * q))
			discB.Append(cents(d))
			taxB.Append(cents(t))
			if inPast(rcpt) {
				rflag.Append(dReturnFlags.values[dReturnFlags.pick(&s.rflag)])
			} else {
				rflag.Append(flagN)
			}
			if inPast(ship) {
				lstatus.Append(statusF)
			} else {
				lstatus.Append(statusO)
			}
			shipB.Append(day(ship))
			commitB.Append(day(commit))
			rcptB.Append(day(rcpt))
			instr.Append(dInstruct.values[dInstruct.pick(&s.instr)])
			mode.Append(dShipModes.values[dShipModes.pick(&s.mode)])
			cmt.Append(s.lcmt.next())
		}
		s.rowFinished()
	}
}

// lineitemRows counts the lineitem rows of orders [0, nOrders) by replaying
// only the line-count stream.
func lineitemRows(e *genEnv) int64 {
	r := newRowRand(1434868289, 1)
	var total int64
	for i := int64(0); i < e.nOrders; i++ {
		total += int64(r.intn(1, linesMax))
		r.rowFinished()
	}
	return total
}
