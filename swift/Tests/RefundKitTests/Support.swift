import XCTest
import RefundKit

/// Runs `body`, which must throw a `RefundError`, and returns that error.
func expectRefundError<T>(
    _ body: () async throws -> T,
    file: StaticString = #filePath,
    line: UInt = #line
) async -> RefundError? {
    do {
        let value = try await body()
        XCTFail("expected a RefundError, got \(value)", file: file, line: line)
    } catch let error as RefundError {
        return error
    } catch {
        XCTFail("expected a RefundError, got \(error)", file: file, line: line)
    }
    return nil
}
