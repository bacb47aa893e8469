import BPNet
import BPNetTestSupport
import Testing

/// Crop and flip augmentation (`Augmentation`): its grammar, its draws, and the CPU backend's
/// images against the definition.
@Suite struct AugmentationTests {
    @Test func grammar() throws {
        #expect(try Augmentation(parsing: "crop:4,flip") == Augmentation(cropPadding: 4, flip: true))
        #expect(try Augmentation(parsing: "flip,crop:2") == Augmentation(cropPadding: 2, flip: true))
        #expect(try Augmentation(parsing: "none").isNone)
        #expect(Augmentation(cropPadding: 3).description == "crop:3" && Augmentation(flip: true).description == "flip")
        for bad in ["crop", "crop:0", "crop:-1", "crop:x", "flip,flip", "crop:1,crop:2", "rotate", "", "crop:4,"] {
            #expect(throws: BPNetError.self, "\(bad)") { try Augmentation(parsing: bad) }
        }
    }

    /// The draws are a pure function of (seed, epoch, sample): they cover [−p, p] evenly, flip
    /// about half the samples, and change with each of the three.
    @Test func drawsAreUniformAndKeyed() {
        let augmentation = Augmentation(cropPadding: 2, flip: true)
        var shifts = [Int: Int](), flips = 0
        let samples = 5_000
        for sample in 0..<samples {
            let draw = augmentation.draw(seed: 7, epoch: 3, sample: sample)
            #expect(draw == augmentation.draw(seed: 7, epoch: 3, sample: sample))
            shifts[draw.dy, default: 0] += 1
            shifts[100 + draw.dx, default: 0] += 1
            flips += draw.flip ? 1 : 0
        }
        #expect(Set(shifts.keys) == Set([-2, -1, 0, 1, 2, 98, 99, 100, 101, 102]))
        for (_, count) in shifts { #expect(abs(count - samples / 5) < samples / 20, "\(shifts)") }
        #expect(abs(flips - samples / 2) < samples / 20)
        let draws = (0..<64).map { augmentation.draw(seed: 7, epoch: 3, sample: $0) }
        #expect((0..<64).map { augmentation.draw(seed: 8, epoch: 3, sample: $0) }.map { "\($0)" } != draws.map { "\($0)" })
        #expect((0..<64).map { augmentation.draw(seed: 7, epoch: 4, sample: $0) }.map { "\($0)" } != draws.map { "\($0)" })
        #expect(Augmentation(cropPadding: 2).draw(seed: 7, epoch: 3, sample: 0).flip == false)
        #expect(Augmentation(flip: true).draw(seed: 7, epoch: 3, sample: 0).dy == 0)
    }

    /// The CPU backend's images are the definition's (`ReferenceNetwork.augment`), bit for bit, at
    /// odd shapes, for rows read from an offset into the index buffer; a 1×2×3 image by hand.
    @Test(arguments: [(1, 2, 3, 1), (3, 7, 5, 2), (2, 4, 9, 5)])
    func cpuImagesAreTheDefinition(channels: Int, height: Int, width: Int, padding: Int) throws {
        let backend = CPUBackend()
        let size = channels * height * width, rows = 6, offset = 3
        let order: [Int32] = [40, 41, 42, 17, 3, 99, 250, 0, 8]
        let images = TestData.uniform(rows * size, seed: 3)
        let indices = try backend.makeIndexBuffer(count: order.count)
        try order.withUnsafeBufferPointer { try backend.uploadIndices($0, to: indices) }
        let output = try backend.makeBuffer(count: rows * size)
        for augmentation in [Augmentation(cropPadding: padding, flip: true), Augmentation(cropPadding: padding), Augmentation(flip: true)] {
            let options = TrainingOptions(augment: augmentation, seed: 11)
            try backend.augmentImages(
                try backend.makeBuffer(images), into: output, indices: indices, offset: offset, rows: rows, channels: channels,
                height: height, width: width, augmentation: augmentation, key: Augmentation.key(11), epoch: 2)
            let result = try backend.download(output)
            for r in 0..<rows {
                let expected = ReferenceNetwork.augment(
                    images[(r * size)..<((r + 1) * size)].map(Double.init), shape: .image(channels: channels, height: height, width: width),
                    options: options, epoch: 2, sample: Int(order[offset + r]))
                #expect(result[(r * size)..<((r + 1) * size)].map(Double.init) == expected, "\(augmentation) row \(r)")
            }
        }
        // By hand: x = [[1, 2, 3], [4, 5, 6]] shifted by (dy, dx) and mirrored.
        let hand = Augmentation(cropPadding: 1, flip: true)
        let options = TrainingOptions(augment: hand, seed: 11)
        for sample in 0..<12 {
            let (dy, dx, flip) = hand.draw(seed: 11, epoch: 1, sample: sample)
            let out = ReferenceNetwork.augment([1, 2, 3, 4, 5, 6], shape: .image(channels: 1, height: 2, width: 3), options: options, epoch: 1, sample: sample)
            for y in 0..<2 {
                for x in 0..<3 {
                    let (sy, sx) = (y + dy, (flip ? 2 - x : x) + dx)
                    let value: Double = (0..<2).contains(sy) && (0..<3).contains(sx) ? Double(sy * 3 + sx + 1) : 0
                    #expect(out[y * 3 + x] == value)
                }
            }
        }
    }
}
