use square_gap::*;

#[test]
fn square_of_sum_of_one() {
    assert_eq!(square_of_sum(1), 1);
}

#[test]
#[ignore]
fn square_of_sum_of_five() {
    assert_eq!(square_of_sum(5), 225);
}

#[test]
#[ignore]
fn square_of_sum_of_ten() {
    assert_eq!(square_of_sum(10), 3025);
}

#[test]
#[ignore]
fn sum_of_squares_of_one() {
    assert_eq!(sum_of_squares(1), 1);
}

#[test]
#[ignore]
fn sum_of_squares_of_five() {
    assert_eq!(sum_of_squares(5), 55);
}

#[test]
#[ignore]
fn sum_of_squares_of_ten() {
    assert_eq!(sum_of_squares(10), 385);
}

#[test]
#[ignore]
fn gap_of_five() {
    assert_eq!(gap(5), 170);
}

#[test]
#[ignore]
fn gap_of_ten() {
    assert_eq!(gap(10), 2640);
}

#[test]
#[ignore]
fn gap_of_one_hundred() {
    assert_eq!(gap(100), 25164150);
}
