import CPUKernels

/// Data augmentation of image batches in training, as torchvision's `RandomCrop(size,
/// padding: p)` followed by `RandomHorizontalFlip(0.5)`: each sample is shifted by (dy, dx) in
/// [−p, p]², with zeros where it leaves the image, and mirrored left to right half the time:
///
///     out[c, y, x] = in[c, y + dy, x' + dx]   (0 outside),   x' = W − 1 − x if flipped, else x
///
/// The draws are counter-based: sample i of the training set in epoch e draws the words
/// (w₀, w₁, w₂, w₃) = Philox4x32-10(counter (i, e, 0, 0), key s), s the `--seed` XOR
/// 0x4155474D454E5431 ("AUGMENT1"); dy = ⌊w₀·(2p + 1)/2³²⌋ − p, dx likewise from w₁, and the
/// sample flips when w₂'s top bit is set. So a run is reproducible, resumes exactly, and gives
/// the same images on every backend, batch size and number of `mpirun` ranks. Evaluation and
/// prediction never augment.
public struct Augmentation: Sendable, Equatable, CustomStringConvertible {
    /// p: the crop's zero padding on each side; 0 crops nothing.
    public var cropPadding: Int
    public var flip: Bool

    public init(cropPadding: Int = 0, flip: Bool = false) {
        (self.cropPadding, self.flip) = (cropPadding, flip)
    }

    /// No augmentation.
    public static let none = Augmentation()
    public var isNone: Bool { cropPadding == 0 && !flip }

    /// `--augment`'s form: `crop:P`, `flip`, or both, comma-separated (`crop:4,flip`), or `none`.
    public init(parsing text: String) throws {
        self.init()
        guard text != "none" else { return }
        for item in text.split(separator: ",", omittingEmptySubsequences: false).map(String.init) {
            let fields = item.split(separator: ":", omittingEmptySubsequences: false)
            if item == "flip", !flip {
                flip = true
            } else if fields.count == 2, fields[0] == "crop", cropPadding == 0, let padding = Int(fields[1]), padding > 0 {
                cropPadding = padding
            } else {
                throw BPNetError.invalidArgument(
                    "--augment '\(text)': '\(item)' is not crop:P (a padding of at least 1) or flip, each at most once")
            }
        }
    }

    /// As `--augment` writes it: `crop:4,flip`, `crop:4`, `flip` or `none`.
    public var description: String {
        let parts = (cropPadding > 0 ? ["crop:\(cropPadding)"] : []) + (flip ? ["flip"] : [])
        return parts.isEmpty ? "none" : parts.joined(separator: ",")
    }

    /// The key of the augmentation draws for a run's `--seed`.
    public static func key(_ seed: UInt64) -> UInt64 { seed ^ 0x4155_474D_454E_5431 }  // "AUGMENT1"

    /// The shift and the flip of training sample `sample` in epoch `epoch` (from 1), as every
    /// backend draws them: (0, 0, false) for what this augmentation does not do.
    public func draw(seed: UInt64, epoch: Int, sample: Int) -> (dy: Int, dx: Int, flip: Bool) {
        let key = Augmentation.key(seed)
        let words = DropoutMask.philox(
            counter: (UInt32(truncatingIfNeeded: sample), UInt32(truncatingIfNeeded: epoch), 0, 0),
            key: (UInt32(truncatingIfNeeded: key), UInt32(truncatingIfNeeded: key >> 32)))
        let span = UInt64(2 * cropPadding + 1)
        let dy = Int((UInt64(words[0]) * span) >> 32) - cropPadding
        let dx = Int((UInt64(words[1]) * span) >> 32) - cropPadding
        return (dy, dx, flip && words[2] >> 31 == 1)
    }

    /// The options' rule that depends on the network: only images can be cropped and flipped.
    func validate(input: Architecture.Shape) throws {
        guard !isNone else { return }
        guard case .image = input else {
            throw BPNetError.invalidArgument(
                "--augment \(self) would do nothing: it crops and flips images, and this network's input is flat (\(input)); give it as CxHxW")
        }
        guard cropPadding <= Int(Int32.max) / 4 else {
            throw BPNetError.invalidArgument("--augment \(self): a crop padding of \(cropPadding) is too large")
        }
    }
}
