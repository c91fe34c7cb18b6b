output "bucket" {
  description = "The site's private bucket: upload dist/ here with the deploy role."
  value       = aws_s3_bucket.site.id
}

output "url" {
  description = "The site's HTTPS address."
  value       = "https://${aws_cloudfront_distribution.site.domain_name}/"
}

output "deploy_role_arn" {
  description = "The role CI assumes to deploy: this bucket and this distribution only."
  value       = aws_iam_role.deploy.arn
}
