pub fn square_of_sum(n: u64) -> u64 {
    todo!("the square of the sum of 1..={n}")
}

pub fn sum_of_squares(n: u64) -> u64 {
    todo!("the sum of the squares of 1..={n}")
}

pub fn gap(n: u64) -> u64 {
    todo!("the gap between the square of the sum and the sum of the squares of 1..={n}")
}
