/// The CSV dialect of a report's files (RFC 4180): a field is quoted when it holds a comma, a
/// quote or a line break, and a quote inside it is doubled, so any setting or class name survives
/// a round trip exactly. Data sets use `CSV`, which reads numbers only.
enum ReportCSV {
    /// One record and its line break.
    static func line(_ fields: [String]) -> String {
        fields.map(field).joined(separator: ",") + "\n"
    }

    static func field(_ text: String) -> String {
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0.isNewline }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// A record with the line it starts on, for error messages.
    struct Record {
        var line: Int
        var fields: [String]
    }

    /// The records of `bytes`, blank lines left out. Read byte by byte, because Swift's
    /// characters join "\r\n" into one. A stray or unclosed quote is an error naming the line.
    static func records(_ bytes: [UInt8], file: String) throws -> [Record] {
        let quote = UInt8(ascii: "\""), comma = UInt8(ascii: ","), newline = UInt8(ascii: "\n"), cr = UInt8(ascii: "\r")
        var records: [Record] = []
        var fields: [String] = []
        var field: [UInt8] = []
        var wasQuoted = false  // the current field was quoted, so even an empty one is a field
        var line = 1, start = 1
        var i = bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? 3 : 0  // a UTF-8 byte-order mark
        func endField() {
            fields.append(String(decoding: field, as: UTF8.self))
            field.removeAll(keepingCapacity: true)
        }
        func endRecord() {
            endField()
            // A blank line is one empty, unquoted field.
            if fields.count > 1 || !fields[0].isEmpty || wasQuoted { records.append(Record(line: start, fields: fields)) }
            fields.removeAll()
            wasQuoted = false
        }
        while i < bytes.count {
            let byte = bytes[i]
            switch byte {
            case quote:
                guard field.isEmpty, !wasQuoted else {
                    throw BPNetError.data(file: file, problem: "line \(line): a quote inside an unquoted field")
                }
                wasQuoted = true
                let opened = line
                i += 1
                while true {
                    guard i < bytes.count else {
                        throw BPNetError.data(file: file, problem: "line \(opened): a quoted field is not closed")
                    }
                    if bytes[i] == quote {
                        if i + 1 < bytes.count, bytes[i + 1] == quote {
                            field.append(quote)
                            i += 2
                            continue
                        }
                        i += 1
                        break
                    }
                    if bytes[i] == newline || (bytes[i] == cr && (i + 1 == bytes.count || bytes[i + 1] != newline)) { line += 1 }
                    field.append(bytes[i])
                    i += 1
                }
                if i < bytes.count, bytes[i] != comma, bytes[i] != newline, bytes[i] != cr {
                    throw BPNetError.data(file: file, problem: "line \(line): text after a quoted field's closing quote")
                }
            case comma:
                endField()
                wasQuoted = false
                i += 1
            case newline, cr:
                endRecord()
                i += byte == cr && i + 1 < bytes.count && bytes[i + 1] == newline ? 2 : 1
                line += 1
                start = line
            default:
                field.append(byte)
                i += 1
            }
        }
        if !field.isEmpty || !fields.isEmpty || wasQuoted { endRecord() }
        return records
    }
}
