package kernels

import (
	"testing"
)

func TestExtract(t *testing.T) {
	S := TString
	ts := c(TTimestamp, "2020-02-29 13:45:30.5", nil, "1969-12-31 23:59:59")
	d := c(TDate, "2021-01-03", "1969-12-31", "2000-12-31", nil)
	cases := []kcase{
		{"ts year", "extract", []col{c(S, "year"), ts}, "2020,NULL,1969"},
		{"ts YEAR uppercase", "extract", []col{c(S, "YEAR"), ts}, "2020,NULL,1969"},
		{"ts quarter", "extract", []col{c(S, "quarter"), ts}, "1,NULL,4"},
		{"ts month", "extract", []col{c(S, "month"), ts}, "2,NULL,12"},
		{"ts week", "extract", []col{c(S, "week"), ts}, "9,NULL,1"},
		{"ts day", "extract", []col{c(S, "day"), ts}, "29,NULL,31"},
		{"ts dow", "extract", []col{c(S, "dow"), ts}, "6,NULL,3"},
		{"ts isodow", "extract", []col{c(S, "isodow"), ts}, "6,NULL,3"},
		{"ts doy", "extract", []col{c(S, "doy"), ts}, "60,NULL,365"},
		{"ts hour", "extract", []col{c(S, "hour"), ts}, "13,NULL,23"},
		{"ts minute", "extract", []col{c(S, "minute"), ts}, "45,NULL,59"},
		{"ts decade", "extract", []col{c(S, "decade"), ts}, "202,NULL,196"},
		{"ts century", "extract", []col{c(S, "century"), ts}, "21,NULL,20"},
		{"ts millennium", "extract", []col{c(S, "millennium"), ts}, "3,NULL,2"},
		{"ts second needs date_part", "extract", []col{c(S, "second"), ts}, "error: date_part"},
		{"date year", "extract", []col{c(S, "year"), d}, "2021,1969,2000,NULL"},
		{"date dow", "extract", []col{c(S, "dow"), d}, "0,3,0,NULL"},
		{"date isodow", "extract", []col{c(S, "isodow"), d}, "7,3,7,NULL"},
		{"date week", "extract", []col{c(S, "week"), d}, "53,1,52,NULL"},
		{"date isoyear", "extract", []col{c(S, "isoyear"), d}, "2020,1970,2000,NULL"},
		{"date century", "extract", []col{c(S, "century"), d}, "21,20,20,NULL"},
		{"date millennium", "extract", []col{c(S, "millennium"), d}, "3,2,2,NULL"},
		{"date doy leap", "extract", []col{c(S, "doy"), d}, "3,365,366,NULL"},
		{"date hour unsupported", "extract", []col{c(S, "hour"), d}, `error: unit "hour" not supported for type date`},
		{"unknown unit date", "extract", []col{c(S, "xyz"), d}, `error: unit "xyz" not recognized for type date`},
		{"unknown unit ts", "extract", []col{c(S, "xyz"), ts}, `error: unit "xyz" not recognized for type timestamp without time zone`},
		{"per-row field", "extract", []col{c(S, "year", "month", "day"), c(TDate, "2020-02-29")}, "2020,2,29"},
		{"date_part second", "date_part", []col{c(S, "second"), ts}, "30.5,NULL,59"},
		{"date_part epoch", "date_part", []col{c(S, "epoch"), ts}, "1582983930.5,NULL,-1"},
		{"date_part epoch date", "date_part", []col{c(S, "epoch"), c(TDate, "1969-12-31")}, "-86400"},
		{"date_part milliseconds", "date_part", []col{c(S, "milliseconds"), ts}, "30500,NULL,59000"},
		{"date_part hour of date", "date_part", []col{c(S, "hour"), c(TDate, "2020-01-01")}, "0"},
		{"date_part year", "date_part", []col{c(S, "year"), ts}, "2020,NULL,1969"},
		{"bc year", "extract", []col{c(S, "year"), c(TDate, "0044-03-15 BC", "0001-12-31 BC")}, "-44,-1"},
		{"bc century", "extract", []col{c(S, "century"), c(TDate, "0001-12-31 BC", "0100-01-01 BC", "0101-01-01 BC")}, "-1,-1,-2"},
		{"bc decade", "extract", []col{c(S, "decade"), c(TDate, "0001-01-01 BC", "0002-01-01 BC", "0011-01-01 BC")}, "0,-1,-1"},
	}
	runCases(t, cases)
}

func TestDateTrunc(t *testing.T) {
	S := TString
	ts := c(TTimestamp, "2020-02-29 13:45:30.123456", "1969-12-31 23:30:00")
	cases := []kcase{
		{"microseconds", "date_trunc", []col{c(S, "microseconds"), ts}, "2020-02-29 13:45:30.123456,1969-12-31 23:30:00"},
		{"milliseconds", "date_trunc", []col{c(S, "milliseconds"), ts}, "2020-02-29 13:45:30.123,1969-12-31 23:30:00"},
		{"second", "date_trunc", []col{c(S, "second"), ts}, "2020-02-29 13:45:30,1969-12-31 23:30:00"},
		{"minute", "date_trunc", []col{c(S, "minute"), ts}, "2020-02-29 13:45:00,1969-12-31 23:30:00"},
		{"hour", "date_trunc", []col{c(S, "hour"), ts}, "2020-02-29 13:00:00,1969-12-31 23:00:00"},
		{"day", "date_trunc", []col{c(S, "day"), ts}, "2020-02-29 00:00:00,1969-12-31 00:00:00"},
		{"week", "date_trunc", []col{c(S, "week"), ts}, "2020-02-24 00:00:00,1969-12-29 00:00:00"},
		{"month", "date_trunc", []col{c(S, "month"), ts}, "2020-02-01 00:00:00,1969-12-01 00:00:00"},
		{"quarter", "date_trunc", []col{c(S, "quarter"), ts}, "2020-01-01 00:00:00,1969-10-01 00:00:00"},
		{"year", "date_trunc", []col{c(S, "year"), ts}, "2020-01-01 00:00:00,1969-01-01 00:00:00"},
		{"decade", "date_trunc", []col{c(S, "decade"), ts}, "2020-01-01 00:00:00,1960-01-01 00:00:00"},
		{"century", "date_trunc", []col{c(S, "century"), ts}, "2001-01-01 00:00:00,1901-01-01 00:00:00"},
		{"millennium", "date_trunc", []col{c(S, "millennium"), ts}, "2001-01-01 00:00:00,1001-01-01 00:00:00"},
		{"date arg", "date_trunc", []col{c(S, "month"), c(TDate, "2021-03-17", nil)}, "2021-03-01 00:00:00,NULL"},
		{"bad unit", "date_trunc", []col{c(S, "fortnight"), ts}, `error: unit "fortnight" not recognized`},
		{"dow unsupported", "date_trunc", []col{c(S, "dow"), ts}, `error: unit "dow" not supported`},
	}
	runCases(t, cases)
}

func TestMakeDate(t *testing.T) {
	cases := []kcase{
		{"basic", "make_date", []col{c(TInt64, 2020, 2021, nil), c(TInt64, 2), c(TInt64, 29, 28, 1)}, "2020-02-29,2021-02-28,NULL"},
		{"int32", "make_date", []col{c(TInt32, 1999), c(TInt32, 12), c(TInt32, 31)}, "1999-12-31"},
		{"bc", "make_date", []col{c(TInt64, -44), c(TInt64, 3), c(TInt64, 15)}, "0044-03-15 BC"},
		{"bad day", "make_date", []col{c(TInt64, 2021), c(TInt64, 2), c(TInt64, 29)}, "error: date field value out of range: 2021-02-29"},
		{"year zero", "make_date", []col{c(TInt64, 0), c(TInt64, 1), c(TInt64, 1)}, "error: date field value out of range"},
	}
	runCases(t, cases)
}

func TestCivilRoundTrip(t *testing.T) {
	for d := int64(-800000); d < 800000; d += 7 {
		y, m, dd := civilFromDays(d)
		if got := daysFromCivil(y, m, dd); got != d {
			t.Fatalf("%d -> %d-%d-%d -> %d", d, y, m, dd, got)
		}
		if y >= 1 && y <= 9999 {
			if got, want := string(appendDate(nil, d, false)), FormatDate(int32(d)); got != want {
				t.Fatalf("day %d: %s vs FormatDate %s", d, got, want)
			}
		}
	}
}

func TestExtractType(t *testing.T) {
	for field, want := range map[string]Type{"year": TInt64, "Second": TFloat64, "epoch": TFloat64, "dow": TInt64} {
		got, err := ExtractType(field, TTimestamp)
		if err != nil || got != want {
			t.Errorf("ExtractType(%s) = %v, %v; want %v", field, got, err, want)
		}
	}
	if _, err := ExtractType("hour", TDate); err == nil {
		t.Error("hour of date should fail")
	}
}
