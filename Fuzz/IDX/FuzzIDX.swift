// libFuzzer target for the IDX reader, plain and gzip (FileReading picks gunzip by the magic,
// as for files). Input layout, so that one input holds both files of a pair:
//   byte 0      odd: classes from the largest label (as DataSource does); even: classes = byte 0 / 2
//   bytes 1...2 little-endian length L of the label file
//   then        L bytes of label file, the rest is the image file
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = Array(UnsafeBufferPointer(start: data, count: size))
    guard input.count >= 3 else { return 0 }
    let mode = input[0]
    let labelLength = min(Int(input[1]) | Int(input[2]) << 8, input.count - 3)
    let labelBytes = Array(input[3..<(3 + labelLength)])
    let imageBytes = Array(input[(3 + labelLength)...])
    checkSlicedGunzip(imageBytes, slice: 1 + Int(mode >> 1))
    do {
        let labels = try FileReading.decompressed(labelBytes, file: "labels")
        let images = try FileReading.decompressed(imageBytes, file: "images")
        let classes = mode & 1 == 1 ? max(try IDX.maxLabel(labels, file: "labels") + 1, 2) : Int(mode >> 1)
        let dataset = try IDX.decode(images: images, labels: labels, classes: classes, imagesFile: "images", labelsFile: "labels")
        precondition(dataset.inputs.count == dataset.count * dataset.inputSize, "inputs do not match the sample count")
        precondition(dataset.targets.count == dataset.count * dataset.outputSize, "targets do not match the sample count")
    } catch is BPNetError {
        return 0
    } catch {
        fatalError("the IDX reader threw a non-BPNetError: \(error)")
    }
    return 0
}

/// zlib must inflate the same whether the input comes whole or in small slices (as files past
/// 4 GiB do), down to the error for a broken stream.
private func checkSlicedGunzip(_ bytes: [UInt8], slice: Int) {
    guard bytes.starts(with: [0x1F, 0x8B]) else { return }
    func inflate(_ slice: Int) -> Result<[UInt8], BPNetError> {
        Result { try FileReading.gunzip(bytes, file: "images", slice: slice) }.mapError { error in
            guard let error = error as? BPNetError else { fatalError("gunzip threw a non-BPNetError: \(error)") }
            return error
        }
    }
    let whole = inflate(Int(UInt32.max)), sliced = inflate(slice)
    precondition(whole == sliced, "gunzip in \(slice)-byte slices gave \(sliced), whole gave \(whole)")
}
