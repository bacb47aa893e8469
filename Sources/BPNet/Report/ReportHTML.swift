/// index.html: one self-contained page (the charts inlined, its style in the page, no script,
/// nothing fetched), so that it opens offline and can be mailed or archived on its own.
enum ReportHTML {
    static let style = """
        body { font: 14px/1.45 sans-serif; color: #222; background: #fff; max-width: 1040px; margin: 20px auto; padding: 0 16px; }
        h1 { font-size: 22px; margin: 0 0 10px; }
        h2 { font-size: 17px; margin: 22px 0 8px; }
        table { border-collapse: collapse; }
        th, td { padding: 3px 10px; border-bottom: 1px solid #ddd; text-align: right; }
        th:first-child, td:first-child, table.settings td { text-align: left; }
        th { background: #f4f4f4; }
        svg { display: block; max-width: 100%; height: auto; }
        footer { margin-top: 24px; color: #666; font-size: 12px; }
        """

    static func page(_ report: RunReport) -> String {
        let e = Markup.escape
        var html = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        html += "<title>\(e(report.title)) – run report</title>\n<style>\n\(style)\n</style>\n</head>\n<body>\n"
        html += "<h1>\(e(report.title))</h1>\n"
        html += summary(report)
        html += "<section id=\"curves\">\n<h2>Loss and accuracy by epoch</h2>\n"
            + CurvesSVG.svg(report.epochs, standalone: false) + "</section>\n"
        if let confusion = report.confusion {
            html += "<section id=\"confusion\">\n<h2>Confusion matrix</h2>\n"
                + ConfusionSVG.svg(confusion, standalone: false) + "</section>\n"
        }
        html += "<section id=\"settings\">\n<h2>Settings</h2>\n<table class=\"settings\">\n"
        for setting in report.settings {
            html += "<tr><th>\(e(setting.name))</th><td>\(e(setting.value))</td></tr>\n"
        }
        html += "</table>\n</section>\n"
        html += epochTable(report.epochs)
        html += "<footer>Written by bpnet \(bpnetVersion). metrics.csv, settings.csv"
            + (report.confusion == nil ? "" : " and confusion.csv")
            + " beside this page hold the data; <code>bpnet report</code> with this folder rebuilds the page and charts from them.</footer>\n"
        return html + "</body>\n</html>\n"
    }

    /// The last epoch's losses and accuracies, the run's time and speed, and the best validation epoch.
    static func summary(_ report: RunReport) -> String {
        var html = "<section id=\"summary\">\n"
        guard let last = report.epochs.last else { return html + "<h2>Final results</h2>\n<p>No epochs.</p>\n</section>\n" }
        html += "<h2>Final results (epoch \(last.epoch))</h2>\n<table class=\"summary\">\n"
        html += "<tr><th></th><th>loss</th><th>accuracy</th></tr>\n"
        let rows: [(String, Double?, Double?)] = [
            ("train", last.trainLoss, last.trainAccuracy), ("validation", last.validationLoss, last.validationAccuracy),
            ("test", last.testLoss, last.testAccuracy),
        ]
        for (name, loss, accuracy) in rows where loss != nil || accuracy != nil {
            html += "<tr><td>\(name)</td><td>\(Markup.loss(loss))</td><td>\(Markup.percent(accuracy))</td></tr>\n"
        }
        if let accuracy = report.confusion?.accuracy {
            html += "<tr><td>confusion matrix</td><td>–</td><td>\(Markup.percent(accuracy))</td></tr>\n"
        }
        html += "</table>\n"
        let seconds = report.epochs.reduce(0) { $0 + $1.seconds }
        let samples = report.epochs.reduce(0) { $0 + $1.seconds * $1.samplesPerSecond }
        var line = "\(counted(report.epochs.count, "epoch")) in " + String(format: "%.1f s", seconds)
        if seconds > 0, samples.isFinite {
            line += String(format: " of training, %.0f samples/s", samples / seconds)
        }
        // Ties go to the earlier epoch, as early stopping keeps it.
        let measured = report.epochs.enumerated().compactMap { index, epoch in
            epoch.validationAccuracy.flatMap { $0.isFinite ? (index: index, epoch: epoch.epoch, accuracy: $0) : nil }
        }
        if let best = measured.max(by: { ($0.accuracy, -$0.index) < ($1.accuracy, -$1.index) }) {
            line += "; best validation accuracy \(Markup.percent(best.accuracy)) in epoch \(best.epoch)"
        }
        return html + "<p>\(Markup.escape(line))</p>\n</section>\n"
    }

    /// Every epoch's row, with the columns of the data sets the run measured.
    static func epochTable(_ epochs: [EpochReport]) -> String {
        let validation = epochs.contains { $0.validationLoss != nil || $0.validationAccuracy != nil }
        let test = epochs.contains { $0.testLoss != nil || $0.testAccuracy != nil }
        var html = "<section id=\"epochs\">\n<h2>Epochs</h2>\n<table class=\"epochs\">\n<tr><th>epoch</th><th>train loss</th><th>train accuracy</th>"
        if validation { html += "<th>validation loss</th><th>validation accuracy</th>" }
        if test { html += "<th>test loss</th><th>test accuracy</th>" }
        html += "<th>seconds</th><th>samples/s</th></tr>\n"
        for epoch in epochs {
            html += "<tr><td>\(epoch.epoch)</td><td>\(Markup.loss(epoch.trainLoss))</td><td>\(Markup.percent(epoch.trainAccuracy))</td>"
            if validation {
                html += "<td>\(Markup.loss(epoch.validationLoss))</td><td>\(Markup.percent(epoch.validationAccuracy))</td>"
            }
            if test { html += "<td>\(Markup.loss(epoch.testLoss))</td><td>\(Markup.percent(epoch.testAccuracy))</td>" }
            html += String(format: "<td>%.3f</td><td>%.0f</td></tr>\n", epoch.seconds, epoch.samplesPerSecond)
        }
        return html + "</table>\n</section>\n"
    }
}
