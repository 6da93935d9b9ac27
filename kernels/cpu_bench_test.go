package kernels

import (
	"fmt"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

const benchRows = 4096

func benchKernel(b *testing.B, name string, types []Type, args ...arrow.Array) {
	k, err := Default.Resolve(name, types, "")
	if err != nil {
		b.Fatal(err)
	}
	ctx := &Context{Alloc: memory.NewGoAllocator()}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		out, err := k.Exec(ctx, args, benchRows)
		if err != nil {
			b.Fatal(err)
		}
		out.Release()
	}
	b.SetBytes(benchRows)
}

func benchInt64(mem memory.Allocator) arrow.Array {
	bl := array.NewInt64Builder(mem)
	defer bl.Release()
	for i := 0; i < benchRows; i++ {
		bl.Append(int64(i * 7 % 1000))
	}
	return bl.NewArray()
}

func benchDec(mem memory.Allocator, p, s int32) arrow.Array {
	bl := array.NewDecimal128Builder(mem, &arrow.Decimal128Type{Precision: p, Scale: s})
	defer bl.Release()
	for i := 0; i < benchRows; i++ {
		bl.Append(decimal128.FromI64(int64(i*7919%100000 + 1)))
	}
	return bl.NewArray()
}

func benchStrings(mem memory.Allocator) arrow.Array {
	bl := array.NewStringBuilder(mem)
	defer bl.Release()
	for i := 0; i < benchRows; i++ {
		bl.Append(fmt.Sprintf("customer %d has some Complaints about order %d", i, i*31))
	}
	return bl.NewArray()
}

func BenchmarkCompareInt64Const(b *testing.B) {
	mem := memory.NewGoAllocator()
	a, c := benchInt64(mem), MakeConst(mem, TInt64, Value{I: 500})
	benchKernel(b, "lt", []Type{TInt64, TInt64}, a, c)
}

func BenchmarkCompareDecimalConst(b *testing.B) {
	mem := memory.NewGoAllocator()
	a, c := benchDec(mem, 15, 2), MakeConst(mem, DecimalType(15, 2), DecValue(decimal128.FromI64(5000)))
	benchKernel(b, "le", []Type{DecimalType(15, 2), DecimalType(15, 2)}, a, c)
}

func BenchmarkAddInt64(b *testing.B) {
	mem := memory.NewGoAllocator()
	benchKernel(b, "add", []Type{TInt64, TInt64}, benchInt64(mem), benchInt64(mem))
}

func BenchmarkDecimalAddFast(b *testing.B) {
	mem := memory.NewGoAllocator()
	t := DecimalType(15, 2)
	benchKernel(b, "sub", []Type{t, t}, benchDec(mem, 15, 2), benchDec(mem, 15, 2))
}

func BenchmarkDecimalMulWide(b *testing.B) {
	mem := memory.NewGoAllocator()
	t1, t2 := DecimalType(31, 4), DecimalType(16, 2)
	benchKernel(b, "mul", []Type{t1, t2}, benchDec(mem, 31, 4), benchDec(mem, 16, 2))
}

func BenchmarkLikeChain(b *testing.B) {
	mem := memory.NewGoAllocator()
	benchKernel(b, "like", []Type{TString, TString}, benchStrings(mem), MakeConst(mem, TString, Value{S: "%Customer%Complaints%"}))
}

func BenchmarkILike(b *testing.B) {
	mem := memory.NewGoAllocator()
	benchKernel(b, "ilike", []Type{TString, TString}, benchStrings(mem), MakeConst(mem, TString, Value{S: "%customer%complaints%"}))
}

func BenchmarkExtractYear(b *testing.B) {
	mem := memory.NewGoAllocator()
	bl := array.NewDate32Builder(mem)
	for i := 0; i < benchRows; i++ {
		bl.Append(arrow.Date32(8000 + i))
	}
	d := bl.NewArray()
	bl.Release()
	benchKernel(b, "extract", []Type{TString, TDate}, MakeConst(mem, TString, Value{S: "year"}), d)
}

func BenchmarkSubstring(b *testing.B) {
	mem := memory.NewGoAllocator()
	benchKernel(b, "substring", []Type{TString, TInt64, TInt64}, benchStrings(mem),
		MakeConst(mem, TInt64, Value{I: 1}), MakeConst(mem, TInt64, Value{I: 2}))
}

func BenchmarkCastDecimalToString(b *testing.B) {
	mem := memory.NewGoAllocator()
	a := benchDec(mem, 15, 2)
	ctx := &Context{Alloc: mem}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		out, err := Cast(ctx, a, DecimalType(15, 2), TString)
		if err != nil {
			b.Fatal(err)
		}
		out.Release()
	}
	b.SetBytes(benchRows)
}

func benchCastFromString(b *testing.B, to Type, text func(i int) string) {
	mem := memory.NewGoAllocator()
	bl := array.NewStringBuilder(mem)
	for i := 0; i < benchRows; i++ {
		bl.Append(text(i))
	}
	a := bl.NewArray()
	bl.Release()
	ctx := &Context{Alloc: mem}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		out, err := Cast(ctx, a, TString, to)
		if err != nil {
			b.Fatal(err)
		}
		out.Release()
	}
	b.SetBytes(benchRows)
}

func BenchmarkCastStringToDecimal(b *testing.B) {
	benchCastFromString(b, DecimalType(15, 2), func(i int) string { return fmt.Sprintf("%d.%02d", i*37, i%100) })
}

func BenchmarkCastStringToDate(b *testing.B) {
	benchCastFromString(b, TDate, func(i int) string { return fmt.Sprintf("19%02d-%02d-%02d", i%100, i%12+1, i%28+1) })
}
