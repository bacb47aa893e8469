/// A network's parameters, gradients and optimizer state on a backend, as llm.c holds
/// `params_memory`, `grads_memory` and its moments: one buffer per kind, each holding every
/// parameter tensor (`ParameterTensor`) at the same offset, in W0, b0, W1, b1 order (a batch
/// norm's γ and β where it stands).
///
/// Operations see each tensor as its own buffer (`BufferGroup.parts`). Where no GEMM epilogue
/// fuses the optimizer, it steps the whole arena in one pass (`Backend.optimizerStep(weightStep:…)`);
/// the distributed exchange sends the whole gradient buffer in one transfer; checkpoints read
/// the state back one buffer per slot.
final class ParameterArena {
    let tensors: [ParameterTensor]
    let parameters: BufferGroup
    /// Nil on the fused SGD path, whose gradients stay in registers.
    let gradients: BufferGroup?
    /// One group per optimizer state slot (`UpdatePath.stateSlots`).
    let state: [BufferGroup]
    /// The arena as the optimizer's pass takes it, when there are gradients.
    private let stepBuffers: ArenaBuffers?
    private let backend: any Backend
    /// Each weight layer's tensors, as indices into `tensors`, and their state parts by slot:
    /// built once, so that no step builds an array.
    private let layerTensors: [(weight: Int, bias: Int)]
    /// Each batch norm's γ and β, as indices into `tensors`.
    private let normalizationTensors: [(scale: Int, shift: Int)]
    private let layerState: [(weight: [any DeviceBuffer], bias: [any DeviceBuffer])]

    /// The arena of `network`'s parameters, with `stateSlots` optimizer state slots, zero or
    /// `saved` (per tensor, then per slot, as checkpoints hold it), and gradient buffers when
    /// `gradients` asks for them.
    init(_ network: Network, backend: any Backend, stateSlots: Int, gradients: Bool, restoring saved: [[[Float]]]? = nil) throws {
        let named = network.parameterTensors
        tensors = named.map(\.tensor)
        let counts = tensors.map(\.count)
        self.backend = backend
        parameters = try backend.makeBufferGroup(counts: counts)
        try parameters.upload(named.map(\.values), on: backend)
        let gradients = gradients ? try backend.makeBufferGroup(counts: counts) : nil
        self.gradients = gradients
        let state = try (0..<stateSlots).map { _ in try backend.makeBufferGroup(counts: counts) }
        self.state = state
        // A saved slot count that differs is refused by the trainer, except SGD without momentum,
        // whose velocity slot (the fused update's scratch) starts from zeros either way.
        if let saved, saved.count == tensors.count, saved.allSatisfy({ $0.count == stateSlots }) {
            for (k, group) in state.enumerated() { try group.upload(saved.map { $0[k] }, on: backend) }
        }
        let parameters = parameters, decays = tensors.map(\.decays)
        stepBuffers = try gradients.map {
            try ArenaBuffers(parameters: parameters, gradients: $0, state: state, decays: decays, backend: backend)
        }
        var pairs = [(weight: Int, bias: Int)](repeating: (0, 0), count: network.layers.count)
        var normalizations = [(scale: Int, shift: Int)](repeating: (0, 0), count: network.normalizations.count)
        for (t, tensor) in tensors.enumerated() {
            switch tensor.role {
            case .weight: pairs[tensor.layer].weight = t
            case .bias: pairs[tensor.layer].bias = t
            case .scale: normalizations[tensor.layer].scale = t
            case .shift: normalizations[tensor.layer].shift = t
            }
        }
        layerTensors = pairs
        normalizationTensors = normalizations
        layerState = pairs.map { pair in (state.map { $0.parts[pair.weight] }, state.map { $0.parts[pair.bias] }) }
    }

    func weights(_ layer: Int) -> any DeviceBuffer { parameters.parts[layerTensors[layer].weight] }
    func bias(_ layer: Int) -> any DeviceBuffer { parameters.parts[layerTensors[layer].bias] }
    func weightState(_ layer: Int) -> [any DeviceBuffer] { layerState[layer].weight }
    func biasState(_ layer: Int) -> [any DeviceBuffer] { layerState[layer].bias }
    /// The gradient buffers, which only the unfused paths have.
    func weightGradient(_ layer: Int) -> any DeviceBuffer { gradients!.parts[layerTensors[layer].weight] }
    func biasGradient(_ layer: Int) -> any DeviceBuffer { gradients!.parts[layerTensors[layer].bias] }
    /// Batch norm `b`'s γ and β, and their gradients.
    func scale(_ b: Int) -> any DeviceBuffer { parameters.parts[normalizationTensors[b].scale] }
    func shift(_ b: Int) -> any DeviceBuffer { parameters.parts[normalizationTensors[b].shift] }
    func scaleGradient(_ b: Int) -> any DeviceBuffer { gradients!.parts[normalizationTensors[b].scale] }
    func shiftGradient(_ b: Int) -> any DeviceBuffer { gradients!.parts[normalizationTensors[b].shift] }

    /// One optimizer step over every tensor, from the gradients: `weightStep` for the tensors that
    /// decay, `biasStep` (no L2, no decoupled decay) for the others.
    func step(weightStep: OptimizerStep, biasStep: OptimizerStep) throws {
        try backend.optimizerStep(weightStep: weightStep, biasStep: biasStep, arena: stepBuffers!)
    }

    /// Clipping by global norm: every gradient times min(1, maxNorm/(‖g‖ + 1e-6)), ‖g‖ the norm of
    /// all of them, in one pass over the gradient buffer on the backend (the gaps between tensors
    /// hold zeros, which add nothing to the norm).
    func clipGradients(toNorm maxNorm: Float) throws {
        try backend.clipToGlobalNorm(gradients!.whole, count: stepBuffers!.span, maxNorm: maxNorm)
    }

    /// Each tensor's values in `group`, read back in one transfer.
    private func split(_ group: BufferGroup) throws -> [[Float]] {
        let whole = try backend.download(group.whole)
        return zip(group.offsets, tensors).map { Array(whole[$0..<($0 + $1.count)]) }
    }

    /// The parameters, per tensor.
    func downloadParameters() throws -> [[Float]] { try split(parameters) }

    /// The optimizer state per tensor, then per slot, as checkpoints hold it.
    func downloadState() throws -> [[[Float]]] {
        let slots = try state.map { try split($0) }
        return tensors.indices.map { t in slots.map { $0[t] } }
    }
}
