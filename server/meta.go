package server

import (
	"context"
	"regexp"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql/schema_ref"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Catalog and Schema are the names the server's one catalog and schema
// go by in metadata calls (every table lives in them).
const (
	Catalog = "bellows"
	Schema  = "public"
)

func (s *Server) registerSQLInfo() error {
	infos := map[flightsql.SqlInfo]any{
		flightsql.SqlInfoFlightSqlServerName:             "Bellows",
		flightsql.SqlInfoFlightSqlServerVersion:          Version,
		flightsql.SqlInfoFlightSqlServerArrowVersion:     "18.8.0",
		flightsql.SqlInfoFlightSqlServerReadOnly:         false,
		flightsql.SqlInfoFlightSqlServerSql:              true,
		flightsql.SqlInfoFlightSqlServerSubstrait:        false,
		flightsql.SqlInfoFlightSqlServerTransaction:      int32(0), // none
		flightsql.SqlInfoFlightSqlServerCancel:           true,
		flightsql.SqlInfoFlightSqlServerStatementTimeout: int32(0), // SET statement_timeout
		flightsql.SqlInfoDDLCatalog:                      false,
		flightsql.SqlInfoDDLSchema:                       false,
		flightsql.SqlInfoDDLTable:                        true,
		flightsql.SqlInfoIdentifierCase:                  int64(2), // lowercase (PostgreSQL folds)
		flightsql.SqlInfoIdentifierQuoteChar:             `"`,
		flightsql.SqlInfoQuotedIdentifierCase:            int64(3), // case sensitive
		flightsql.SqlInfoNullOrdering:                    int64(0), // NULLs sort high
		flightsql.SqlInfoSupportsColumnAliasing:          true,
		flightsql.SqlInfoTransactionsSupported:           false,
		flightsql.SqlInfoKeywords:                        []string{"EXPLAIN", "ANALYZE", "COPY"},
	}
	for k, v := range infos {
		if err := s.RegisterSqlInfo(k, v); err != nil {
			return err
		}
	}
	return nil
}

// metaInfo answers a metadata GetFlightInfo: the ticket is the command
// itself, DoGet builds the result.
func (s *Server) metaInfo(desc *flight.FlightDescriptor, schema *arrow.Schema) *flight.FlightInfo {
	return s.infoFor(desc, schema, desc.Cmd)
}

// oneBatch streams the single batch rec (taken over by the stream).
func oneBatch(rec arrow.RecordBatch) (*arrow.Schema, <-chan flight.StreamChunk, error) {
	ch := make(chan flight.StreamChunk, 1)
	ch <- flight.StreamChunk{Data: rec}
	close(ch)
	return rec.Schema(), ch, nil
}

// emptyBatch streams no rows of schema sc.
func (s *Server) emptyBatch(sc *arrow.Schema) (*arrow.Schema, <-chan flight.StreamChunk, error) {
	b := array.NewRecordBuilder(s.Alloc, sc)
	defer b.Release()
	return oneBatch(b.NewRecordBatch())
}

// likeMatcher compiles a SQL LIKE pattern (% and _, backslash escapes)
// into a matcher; a nil pattern matches everything.
func likeMatcher(pattern *string) (func(string) bool, error) {
	if pattern == nil {
		return func(string) bool { return true }, nil
	}
	var re strings.Builder
	re.WriteString("^")
	esc := false
	for _, r := range *pattern {
		switch {
		case esc:
			re.WriteString(regexp.QuoteMeta(string(r)))
			esc = false
		case r == '\\':
			esc = true
		case r == '%':
			re.WriteString(".*")
		case r == '_':
			re.WriteString(".")
		default:
			re.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	re.WriteString("$")
	rx, err := regexp.Compile(re.String())
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "bad filter pattern %q: %v", *pattern, err)
	}
	return rx.MatchString, nil
}

// catalogMatches reports whether a catalog filter admits ours ("" is a
// catalog-less filter, which ours is not).
func catalogMatches(c *string) bool { return c == nil || *c == Catalog }

func (s *Server) GetFlightInfoCatalogs(_ context.Context, desc *flight.FlightDescriptor) (*flight.FlightInfo, error) {
	return s.metaInfo(desc, schema_ref.Catalogs), nil
}

func (s *Server) DoGetCatalogs(context.Context) (*arrow.Schema, <-chan flight.StreamChunk, error) {
	b := array.NewRecordBuilder(s.Alloc, schema_ref.Catalogs)
	defer b.Release()
	b.Field(0).(*array.StringBuilder).Append(Catalog)
	return oneBatch(b.NewRecordBatch())
}

func (s *Server) GetFlightInfoSchemas(_ context.Context, _ flightsql.GetDBSchemas, desc *flight.FlightDescriptor) (*flight.FlightInfo, error) {
	return s.metaInfo(desc, schema_ref.DBSchemas), nil
}

func (s *Server) DoGetDBSchemas(_ context.Context, cmd flightsql.GetDBSchemas) (*arrow.Schema, <-chan flight.StreamChunk, error) {
	match, err := likeMatcher(cmd.GetDBSchemaFilterPattern())
	if err != nil {
		return nil, nil, err
	}
	b := array.NewRecordBuilder(s.Alloc, schema_ref.DBSchemas)
	defer b.Release()
	if catalogMatches(cmd.GetCatalog()) && match(Schema) {
		b.Field(0).(*array.StringBuilder).Append(Catalog)
		b.Field(1).(*array.StringBuilder).Append(Schema)
	}
	return oneBatch(b.NewRecordBatch())
}

func (s *Server) GetFlightInfoTables(_ context.Context, cmd flightsql.GetTables, desc *flight.FlightDescriptor) (*flight.FlightInfo, error) {
	if cmd.GetIncludeSchema() {
		return s.metaInfo(desc, schema_ref.TablesWithIncludedSchema), nil
	}
	return s.metaInfo(desc, schema_ref.Tables), nil
}

// DoGetTables lists the tables and views that pass the catalog, schema,
// name and type filters, with their Arrow schemas when asked.
func (s *Server) DoGetTables(_ context.Context, cmd flightsql.GetTables) (*arrow.Schema, <-chan flight.StreamChunk, error) {
	schemaOK, err := likeMatcher(cmd.GetDBSchemaFilterPattern())
	if err != nil {
		return nil, nil, err
	}
	nameOK, err := likeMatcher(cmd.GetTableNameFilterPattern())
	if err != nil {
		return nil, nil, err
	}
	types := map[string]bool{}
	for _, t := range cmd.GetTableTypes() {
		types[strings.ToUpper(t)] = true
	}
	sc := schema_ref.Tables
	if cmd.GetIncludeSchema() {
		sc = schema_ref.TablesWithIncludedSchema
	}
	b := array.NewRecordBuilder(s.Alloc, sc)
	defer b.Release()
	if catalogMatches(cmd.GetCatalog()) && schemaOK(Schema) {
		for _, r := range s.db.Relations() {
			kind := "TABLE"
			if r.View {
				kind = "VIEW"
			}
			if !nameOK(r.Name) || (len(types) > 0 && !types[kind]) {
				continue
			}
			b.Field(0).(*array.StringBuilder).Append(Catalog)
			b.Field(1).(*array.StringBuilder).Append(Schema)
			b.Field(2).(*array.StringBuilder).Append(r.Name)
			b.Field(3).(*array.StringBuilder).Append(kind)
			if cmd.GetIncludeSchema() {
				b.Field(4).(*array.BinaryBuilder).Append(flight.SerializeSchema(r.Schema, s.Alloc))
			}
		}
	}
	return oneBatch(b.NewRecordBatch())
}

func (s *Server) GetFlightInfoTableTypes(_ context.Context, desc *flight.FlightDescriptor) (*flight.FlightInfo, error) {
	return s.metaInfo(desc, schema_ref.TableTypes), nil
}

func (s *Server) DoGetTableTypes(context.Context) (*arrow.Schema, <-chan flight.StreamChunk, error) {
	b := array.NewRecordBuilder(s.Alloc, schema_ref.TableTypes)
	defer b.Release()
	b.Field(0).(*array.StringBuilder).AppendValues([]string{"TABLE", "VIEW"}, nil)
	return oneBatch(b.NewRecordBatch())
}

// Bellows has no key constraints: the key calls answer with no rows.

func (s *Server) GetFlightInfoPrimaryKeys(_ context.Context, _ flightsql.TableRef, desc *flight.FlightDescriptor) (*flight.FlightInfo, error) {
	return s.metaInfo(desc, schema_ref.PrimaryKeys), nil
}

func (s *Server) DoGetPrimaryKeys(context.Context, flightsql.TableRef) (*arrow.Schema, <-chan flight.StreamChunk, error) {
	return s.emptyBatch(schema_ref.PrimaryKeys)
}

func (s *Server) GetFlightInfoExportedKeys(_ context.Context, _ flightsql.TableRef, desc *flight.FlightDescriptor) (*flight.FlightInfo, error) {
	return s.metaInfo(desc, schema_ref.ExportedKeys), nil
}

func (s *Server) DoGetExportedKeys(context.Context, flightsql.TableRef) (*arrow.Schema, <-chan flight.StreamChunk, error) {
	return s.emptyBatch(schema_ref.ExportedKeys)
}

func (s *Server) GetFlightInfoImportedKeys(_ context.Context, _ flightsql.TableRef, desc *flight.FlightDescriptor) (*flight.FlightInfo, error) {
	return s.metaInfo(desc, schema_ref.ImportedKeys), nil
}

func (s *Server) DoGetImportedKeys(context.Context, flightsql.TableRef) (*arrow.Schema, <-chan flight.StreamChunk, error) {
	return s.emptyBatch(schema_ref.ImportedKeys)
}

func (s *Server) GetFlightInfoCrossReference(_ context.Context, _ flightsql.CrossTableRef, desc *flight.FlightDescriptor) (*flight.FlightInfo, error) {
	return s.metaInfo(desc, schema_ref.CrossReference), nil
}

func (s *Server) DoGetCrossReference(context.Context, flightsql.CrossTableRef) (*arrow.Schema, <-chan flight.StreamChunk, error) {
	return s.emptyBatch(schema_ref.CrossReference)
}

func (s *Server) GetFlightInfoXdbcTypeInfo(_ context.Context, _ flightsql.GetXdbcTypeInfo, desc *flight.FlightDescriptor) (*flight.FlightInfo, error) {
	return s.metaInfo(desc, schema_ref.XdbcTypeInfo), nil
}

// xdbcTypes are the SQL types Bellows supports, as XDBC type info rows
// (JDBC/ODBC type codes; sorted by data_type as the spec asks).
const xdbcTypes = `[
{"type_name":"bigint","data_type":-5,"column_size":19,"nullable":1,"case_sensitive":false,"searchable":3,"unsigned_attribute":false,"fixed_prec_scale":true,"auto_increment":false,"local_type_name":"bigint","minimum_scale":0,"maximum_scale":0,"sql_data_type":-5,"num_prec_radix":10},
{"type_name":"text","data_type":-1,"column_size":2147483647,"literal_prefix":"'","literal_suffix":"'","nullable":1,"case_sensitive":true,"searchable":3,"fixed_prec_scale":false,"local_type_name":"text","sql_data_type":-1},
{"type_name":"numeric","data_type":2,"column_size":38,"create_params":["precision","scale"],"nullable":1,"case_sensitive":false,"searchable":3,"unsigned_attribute":false,"fixed_prec_scale":true,"auto_increment":false,"local_type_name":"numeric","minimum_scale":0,"maximum_scale":38,"sql_data_type":2,"num_prec_radix":10},
{"type_name":"integer","data_type":4,"column_size":10,"nullable":1,"case_sensitive":false,"searchable":3,"unsigned_attribute":false,"fixed_prec_scale":true,"auto_increment":false,"local_type_name":"integer","minimum_scale":0,"maximum_scale":0,"sql_data_type":4,"num_prec_radix":10},
{"type_name":"smallint","data_type":5,"column_size":5,"nullable":1,"case_sensitive":false,"searchable":3,"unsigned_attribute":false,"fixed_prec_scale":true,"auto_increment":false,"local_type_name":"smallint","minimum_scale":0,"maximum_scale":0,"sql_data_type":5,"num_prec_radix":10},
{"type_name":"real","data_type":7,"column_size":24,"nullable":1,"case_sensitive":false,"searchable":3,"unsigned_attribute":false,"fixed_prec_scale":false,"auto_increment":false,"local_type_name":"real","sql_data_type":7,"num_prec_radix":2},
{"type_name":"double precision","data_type":8,"column_size":53,"nullable":1,"case_sensitive":false,"searchable":3,"unsigned_attribute":false,"fixed_prec_scale":false,"auto_increment":false,"local_type_name":"double precision","sql_data_type":8,"num_prec_radix":2},
{"type_name":"varchar","data_type":12,"column_size":2147483647,"literal_prefix":"'","literal_suffix":"'","create_params":["length"],"nullable":1,"case_sensitive":true,"searchable":3,"fixed_prec_scale":false,"local_type_name":"varchar","sql_data_type":12},
{"type_name":"boolean","data_type":16,"column_size":1,"nullable":1,"case_sensitive":false,"searchable":2,"fixed_prec_scale":false,"local_type_name":"boolean","sql_data_type":16},
{"type_name":"date","data_type":91,"column_size":10,"literal_prefix":"DATE '","literal_suffix":"'","nullable":1,"case_sensitive":false,"searchable":3,"fixed_prec_scale":false,"local_type_name":"date","sql_data_type":9,"datetime_subcode":1},
{"type_name":"timestamp","data_type":93,"column_size":26,"literal_prefix":"TIMESTAMP '","literal_suffix":"'","nullable":1,"case_sensitive":false,"searchable":3,"fixed_prec_scale":false,"local_type_name":"timestamp","minimum_scale":0,"maximum_scale":6,"sql_data_type":9,"datetime_subcode":3}
]`

// DoGetXdbcTypeInfo lists the supported types, or the one asked for.
func (s *Server) DoGetXdbcTypeInfo(_ context.Context, cmd flightsql.GetXdbcTypeInfo) (*arrow.Schema, <-chan flight.StreamChunk, error) {
	rec, _, err := array.RecordFromJSON(s.Alloc, schema_ref.XdbcTypeInfo, strings.NewReader(xdbcTypes))
	if err != nil {
		return nil, nil, status.Errorf(codes.Internal, "type info: %v", err)
	}
	if dt := cmd.GetDataType(); dt != nil {
		defer rec.Release()
		codes := rec.Column(1).(*array.Int32)
		for i := 0; i < codes.Len(); i++ { // each code appears once
			if codes.Value(i) == *dt {
				return oneBatch(rec.NewSlice(int64(i), int64(i+1)))
			}
		}
		return s.emptyBatch(schema_ref.XdbcTypeInfo)
	}
	return oneBatch(rec)
}
