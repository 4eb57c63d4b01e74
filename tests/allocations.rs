//! Allocations per authentication, held to their limits: a cache hit (token or API key)
//! allocates nothing, a full HS256 verification at most six times (the primitive floor's own
//! count plus at most one), garbage nothing beyond its error. The counting is
//! `benches/allocations.rs`, shared; this binary holds one test so nothing else allocates
//! meanwhile.

#[path = "../benches/allocations.rs"]
mod allocations;

#[test]
fn hot_path_allocations_stay_within_their_limits() {
    let c = allocations::measure();
    println!("{c:?}");
    assert_eq!(c.cached, 0, "a token cache hit allocates nothing");
    assert_eq!(
        c.api_key_cached, 0,
        "an API-key cache hit allocates nothing"
    );
    assert!(
        c.verify <= 6,
        "a full verification: {} allocations",
        c.verify
    );
    assert!(c.verify <= c.floor + 1, "{c:?}");
    assert!(c.garbage <= 1, "garbage: {} allocations", c.garbage);
}
