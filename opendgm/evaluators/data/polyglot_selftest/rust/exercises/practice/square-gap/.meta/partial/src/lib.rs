pub fn square_of_sum(n: u64) -> u64 {
    let total: u64 = (1..=n).sum();
    total * total
}

pub fn sum_of_squares(n: u64) -> u64 {
    (1..=n).map(|i| i * i).sum()
}

// The wrong sign on purpose: the self-test counts this solution's passing tests.
pub fn gap(n: u64) -> u64 {
    square_of_sum(n) + sum_of_squares(n)
}
