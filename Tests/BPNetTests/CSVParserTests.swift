@testable import BPNet
import BPNetTestSupport
import Foundation
import Testing

/// The CSV reader's rules, pinned exactly: its values bit for bit, its header and blank-line rules
/// and every error message with its line and column. The byte-level parser must give what the
/// String-based one gave (kept as `ReferenceCSV` in BPNetTestSupport), on chosen and on random files.
@Suite struct CSVParserTests {
    func parse(_ text: String) throws -> CSV.Table { try CSV.parse(bytes: Array(text.utf8), file: "f.csv") }

    func expectProblem(_ text: String, _ problem: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(throws: BPNetError.data(file: "f.csv", problem: problem), "\(text.debugDescription)", sourceLocation: sourceLocation) {
            try parse(text)
        }
    }

    /// Bit patterns, so that comparisons are exact and tell -0 from 0.
    func bits(_ values: [Float]) -> [UInt32] { values.map(\.bitPattern) }

    @Test func numberSpellings() throws {
        let table = try parse("1e-3,-0,+2.5,.5,5.,1E+05,0x1p3,00012,3.4028235e38,1e-40,1e-46,-.25e1, 7 ,\t8\t\r\n")
        let subnormal = Float(bitPattern: 0x0001_16C2)  // 1e-40, rounded to the nearest subnormal
        let expected: [Float] = [1e-3, -0.0, 2.5, 0.5, 5, 100_000, 8, 12, 3.4028235e38, subnormal, 0, -2.5, 7, 8]
        #expect(bits(table.cells) == bits(expected))
        #expect(table.cells[1].sign == .minus, "-0 keeps its sign")
        #expect(table.columns == 14 && table.lines == [1])
    }

    /// More digits than a Float holds, and values on or near the rounding midpoints, read as
    /// `Float(String)` reads them (correctly rounded, ties to even).
    @Test func longAndMidpointNumbers() throws {
        let texts = [
            "0.123456789012345678901234567890", "123456789012345678901234567890", "16777217", "16777219",
            "16777217.000000000000000000001", "0.1000000000000000055511151231257827", "3.4028235677973362e38",
            "0." + String(repeating: "0", count: 37) + "11754942807573642917278829910357665598",
            "9007199254740993", "1.00000005960464477539062500000000000001", "1.000000059604644775390625",
        ]
        let table = try parse(texts.joined(separator: ",") + "\n")
        #expect(bits(table.cells) == bits(texts.map { Float($0)! }))
    }

    @Test func headerRules() throws {
        // A header may be wider or narrower than the data; only the first non-blank line can be one.
        let headed = try parse("\n \nx,y,z,w\n1,2\n\n3,4\n")
        #expect(headed.columns == 2 && headed.lines == [4, 6] && headed.cells == [1, 2, 3, 4])
        // Empty cells are not numbers, so a line of commas is a header too.
        let commas = try parse(",,\n1,2,3\n")
        #expect(commas.columns == 3 && commas.lines == [2])
        expectProblem("x,y\na,b\n", "line 2, column 1: 'a' is not a number")
        // A first line with a number in it is data with a typo, not a header.
        expectProblem("x,1,z\n1,2,3\n", "line 1, column 1: 'x' is not a number")
        // nan and inf are numbers (not finite ones), so they make no header.
        expectProblem("nan,inf\n1,2\n", "line 1, column 1: nan is not finite")
        expectProblem("a,b\n", "holds no data rows")
        expectProblem("", "holds no data rows")
        expectProblem("\n\r\n \t\n", "holds no data rows")
    }

    @Test func lineEndsAndBlankLines() throws {
        let crlf = try parse("1,2\r\n3,4\r\n\r\n")
        #expect(crlf.cells == [1, 2, 3, 4] && crlf.lines == [1, 2])
        expectProblem("1,2\r\n3,x\r\n", "line 2, column 2: 'x' is not a number")
        let noFinalNewline = try parse("1,2\n3,4")
        #expect(noFinalNewline.cells == [1, 2, 3, 4] && noFinalNewline.lines == [1, 2])
        // Whitespace-only lines are blank, including Unicode spaces; they still count as lines.
        let spaced = try parse("1,2\n   \n\t\r\n\u{A0}\u{3000}\n5,6\n")
        #expect(spaced.cells == [1, 2, 5, 6] && spaced.lines == [1, 5])
        // A bare carriage return does not end a line.
        expectProblem("1,2\r3,4\n", "line 1, column 2: '2\r3' is not a number")
    }

    @Test func cellErrors() throws {
        expectProblem("1,2,\n", "line 1, column 3: '' is not a number")
        expectProblem("1,2\n3,4,\n", "line 2 has 3 columns, expected 2")
        // The column count is checked before the cells.
        expectProblem("1,2\n3,x,5\n", "line 2 has 3 columns, expected 2")
        expectProblem("1,2\n3\n", "line 2 has 1 columns, expected 2")
        expectProblem("\"1\",2\n", "line 1, column 1: '\"1\"' is not a number")
        expectProblem("1 2,3\n", "line 1, column 1: '1 2' is not a number")
        expectProblem("1,1e\n", "line 1, column 2: '1e' is not a number")
        expectProblem("1,1.5e+\n", "line 1, column 2: '1.5e+' is not a number")
        expectProblem("1,--1\n", "line 1, column 2: '--1' is not a number")
        expectProblem("1,1_000\n", "line 1, column 2: '1_000' is not a number")
        // The first bad cell of the line is named, trimmed.
        expectProblem("1,2,3\n4,  y ,z\n", "line 2, column 2: 'y' is not a number")
        expectProblem("1,  nan  \n", "line 1, column 2: nan is not finite")
        expectProblem("1,1e39\n", "line 1, column 2: 1e39 is not finite")
        expectProblem("1,-inf\n", "line 1, column 2: -inf is not finite")
        expectProblem("1,-3.4028236e38\n", "line 1, column 2: -3.4028236e38 is not finite")
        expectProblem("1,infinity\n", "line 1, column 2: infinity is not finite")
        // A not-finite cell before a word: the first one is named.
        expectProblem("1,2,3\ninf,x,3\n", "line 2, column 1: inf is not finite")
        // Bytes that are not UTF-8 are named as U+FFFD.
        #expect(throws: BPNetError.data(file: "b", problem: "line 1, column 2: '1\u{FFFD}' is not a number")) {
            try CSV.parse(bytes: [0x30, 0x2C, 0x31, 0xFF], file: "b")
        }
        // Unicode spaces around a number are trimmed, as Foundation trims them.
        #expect(try parse("\u{A0}1\u{2009},2\n").cells == [1, 2])
    }

    @Test func oddRowCountsAndLongLines() throws {
        for rows in [1, 3, 17] {
            var generator = SeededGenerator(seed: UInt64(rows))
            let values = (0..<(rows * 5)).map { _ in Float.random(in: -1000...1000, using: &generator) }
            let text = stride(from: 0, to: values.count, by: 5).map { values[$0..<($0 + 5)].map { "\($0)" }.joined(separator: ",") }
            let table = try parse(text.joined(separator: "\n"))
            #expect(bits(table.cells) == bits(values) && table.rows == rows && table.columns == 5)
        }
        // One line of 100,003 cells, then one of a different width.
        let wide = (0..<100_003).map { "\($0 % 997).5e-1" }.joined(separator: ",")
        let table = try parse(wide + "\n")
        #expect(table.columns == 100_003 && table.cells.count == 100_003 && table.cells[100_002] == Float("\(100_002 % 997).5e-1"))
        expectProblem(wide + "\n1,2\n", "line 2 has 2 columns, expected 100003")
    }

    /// Every decimal spelling a data file might hold, and many that sit on the edges of `Float`'s
    /// rounding, read exactly as `Float(String)` reads them.
    @Test func randomNumbersMatchFloatParsing() throws {
        var generator = SeededGenerator(seed: 2024)
        var texts: [String] = []
        for _ in 0..<40_000 {
            texts.append(Self.randomDecimal(using: &generator))
        }
        for _ in 0..<20_000 {
            // Halfway between two neighbouring Floats (exact as a Double), then a hair to each side.
            let float = Float(bitPattern: UInt32.random(in: 0x0080_0000...0x7F7F_FFFF, using: &generator))
            let midpoint = (Double(float) + Double(float.nextUp)) / 2
            let sign = Bool.random(using: &generator) ? "-" : ""
            texts.append(sign + String(format: "%.17g", midpoint))
            texts.append(sign + String(format: "%.25e", midpoint))
            texts.append(sign + String(format: "%.25e", midpoint.nextUp))
            texts.append(sign + String(format: "%.25e", midpoint.nextDown))
            texts.append(sign + "\(float)")
            texts.append(sign + String(format: "%.9g", Double(float)))
        }
        for _ in 0..<5_000 {
            // Subnormal Floats, the smallest normal ones and the overflow edge go to Float(String) itself.
            let float = Float(bitPattern: UInt32.random(in: 0...0x0100_0000, using: &generator))
            texts.append(String(format: "%.12e", Double(float)))
            texts.append(String(format: "%.12e", Double(Float.greatestFiniteMagnitude) * Double.random(in: 0.999999...1.000001, using: &generator)))
        }
        texts.removeAll { Float($0)?.isFinite != true }  // past the largest Float: not finite, an error
        let table = try parse(texts.joined(separator: "\n") + "\n")
        #expect(table.columns == 1 && table.rows == texts.count)
        var mismatches: [String] = []
        for (text, value) in zip(texts, table.cells) where Float(text)!.bitPattern != value.bitPattern {
            mismatches.append("\(text): \(value) vs \(Float(text)!)")
        }
        #expect(mismatches.count == 0, "first mismatches: \(mismatches.prefix(5))")
    }

    /// A random decimal: sign, up to 30 digits around an optional point, leading zeros, an exponent.
    static func randomDecimal(using generator: inout SeededGenerator) -> String {
        var text = ["", "-", "+"][Int.random(in: 0..<3, using: &generator)]
        let digits = Int.random(in: 1...30, using: &generator)
        let zeros = Int.random(in: 0...3, using: &generator) == 0 ? Int.random(in: 1...12, using: &generator) : 0
        var mantissa = String(repeating: "0", count: zeros)
        for _ in 0..<digits { mantissa.append(Character(String(Int.random(in: 0...9, using: &generator)))) }
        if Bool.random(using: &generator) {
            let point = Int.random(in: 0...mantissa.count, using: &generator)
            mantissa.insert(".", at: mantissa.index(mantissa.startIndex, offsetBy: point))
            if mantissa == "." { mantissa = "0." }
        }
        text += mantissa
        if Bool.random(using: &generator) {
            text += ["e", "E"][Int.random(in: 0..<2, using: &generator)] + ["", "-", "+"][Int.random(in: 0..<3, using: &generator)]
            text += "\(Int.random(in: 0...70, using: &generator))"
        }
        return Float(text)?.isFinite == true ? text : "0"
    }

    /// Random files of numbers, words, odd bytes, blank lines and ragged rows: the parser agrees
    /// with the reference (the String-based parser it replaced) on the table or the exact error.
    @Test func agreesWithTheStringParserOnRandomFiles() throws {
        var generator = SeededGenerator(seed: 99)
        let oddCells = [
            "", " ", "\t", "x", "nan", "-inf", "inf", "1e39", "1e-46", "0x1p-3", "\"2\"", "1\0", "\u{A0}3", "4\u{2028}", "5\u{301}",
            "\u{200B}6", "١", "1e", ".", "-", "+.5", "0e99999", "1e0000000000000000000000001", "\r", "7\r", "1,5", "NaN", "-0",
            "00", "9" + String(repeating: "0", count: 40), "0." + String(repeating: "0", count: 50) + "1",
        ]
        var agreed = 0, errors = 0
        for _ in 0..<3000 {
            let columns = Int.random(in: 1...5, using: &generator)
            var text = Bool.random(using: &generator) ? (0..<columns).map { "h\($0)" }.joined(separator: ",") + "\n" : ""
            for _ in 0..<Int.random(in: 0...6, using: &generator) {
                let width = Int.random(in: 0..<12, using: &generator) == 0 ? Int.random(in: 1...6, using: &generator) : columns
                let cells = (0..<width).map { _ in
                    Int.random(in: 0..<20, using: &generator) == 0
                        ? oddCells[Int.random(in: 0..<oddCells.count, using: &generator)]
                        : Self.randomDecimal(using: &generator)
                }
                text += cells.joined(separator: ",") + ["\n", "\r\n", "\n\n", "\n \n"][Int.random(in: 0..<4, using: &generator)]
            }
            var bytes = Array(text.utf8)
            if Int.random(in: 0..<10, using: &generator) == 0 && !bytes.isEmpty {
                bytes[Int.random(in: 0..<bytes.count, using: &generator)] = UInt8.random(in: 0...255, using: &generator)
            }
            let reference = Result { try ReferenceCSV.parse(bytes: bytes, file: "r") }
            let parsed = Result { try CSV.parse(bytes: bytes, file: "r") }
            switch (reference, parsed) {
            case let (.success(expected), .success(table)):
                #expect(
                    bits(table.cells) == bits(expected.cells) && table.columns == expected.columns && table.lines == expected.lines,
                    "\(String(decoding: bytes, as: UTF8.self).debugDescription)")
                agreed += 1
            case let (.failure(expected), .failure(error)):
                #expect(error as? BPNetError == expected as? BPNetError, "\(String(decoding: bytes, as: UTF8.self).debugDescription)")
                errors += 1
            default:
                Issue.record("reference \(reference), parser \(parsed) on \(String(decoding: bytes, as: UTF8.self).debugDescription)")
            }
        }
        // Both outcomes must be well represented, or the comparison proves little.
        #expect(agreed > 500 && errors > 500, "\(agreed) tables, \(errors) errors")
    }
}
